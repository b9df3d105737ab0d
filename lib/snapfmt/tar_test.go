package snapfmt

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The last-resort path: the system tar lists the stream and extracts a
// member's bytes, plain and gzip.
func TestSystemTar(t *testing.T) {
	tarBin, err := exec.LookPath("tar")
	if err != nil {
		t.Skip("no tar in PATH")
	}
	m, es := sample()
	for _, compress := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "snap.tar")
		if err := os.WriteFile(path, write(t, WriterOptions{Compress: compress}, m, es), 0o644); err != nil {
			t.Fatal(err)
		}
		z := ""
		if compress {
			z = "z"
		}
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(tarBin, "-t"+z+"vf", path)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("tar tvf: %v\n%s", err, stderr.Bytes())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if len(lines) != len(es)+2 {
			t.Fatalf("tar tvf lists %d entries, want %d:\n%s", len(lines), len(es)+2, stdout.Bytes())
		}
		want := []string{ManifestName}
		for _, e := range es {
			name, _ := e.m.Name()
			want = append(want, name)
		}
		want = append(want, SumsName)
		for i, l := range lines {
			if !strings.HasPrefix(l, "-rw-r--r-- 0/0 ") || !strings.HasSuffix(l, " 1970-01-01 00:00 "+want[i]) {
				t.Errorf("tar tvf line %d: %q, want a 0644 file %s owned by 0/0 at the epoch", i, l, want[i])
			}
		}

		// GNU tar warns about the DR.* records unless told not to.
		if strings.Contains(stderr.String(), "Ignoring unknown extended header keyword") {
			stderr.Reset()
			cmd := exec.Command(tarBin, "--warning=no-unknown-keyword", "-t"+z+"f", path)
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil || stderr.Len() > 0 {
				t.Errorf("tar --warning=no-unknown-keyword: %v\n%s", err, stderr.Bytes())
			}
		}

		for _, e := range es {
			if e.m.Kind != KindData && e.m.Kind != KindTable {
				continue
			}
			name, _ := e.m.Name()
			out, err := exec.Command(tarBin, "--warning=no-unknown-keyword", "-x"+z+"Of", path, name).Output()
			if err != nil {
				t.Fatalf("tar -xOf %s: %v", name, err)
			}
			if !bytes.Equal(out, e.data) {
				t.Errorf("tar -xOf %s: %q, want %q", name, out, e.data)
			}
		}
	}
}
