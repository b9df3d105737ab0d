package cli

import "runtime/debug"

// Version is set at link time: -ldflags "-X github.com/dr-mysql/dr/lib/cli.Version=v1.2.3".
var Version string

// VersionString is Version, or what the Go toolchain recorded in the
// binary when the linker was not told (go install, go run).
func VersionString() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "+" + s.Value[:12]
		}
		if s.Key == "vcs.modified" && s.Value == "true" {
			v += "-dirty"
		}
	}
	return v
}
