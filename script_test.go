package dr_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/pull"
	"github.com/dr-mysql/dr/lib/replay"
	"github.com/dr-mysql/dr/lib/ship"
	"github.com/dr-mysql/dr/lib/snap"
)

// commands are the six dr commands, run in-process by testscript through
// the test binary, exactly as main runs them.
var commands = map[string]func(args []string, io cli.IO) int{
	pull.Name:   pull.Main,
	snap.Name:   snap.Main,
	replay.Name: replay.Main,
	ship.Name:   ship.Main,
}

func TestMain(m *testing.M) {
	mains := map[string]func(){}
	for name, run := range commands {
		mains[name] = func() { os.Exit(recordExit(run(os.Args[1:], cli.Std()))) }
	}
	mains["dr-test-commits"] = func() { os.Exit(commitLoop()) }
	mains["dr-test-txload"] = func() { os.Exit(txloadMain()) }
	testscript.Main(m, mains)
}

func TestScripts(t *testing.T) {
	scripts, err := filepath.Abs("scripts")
	if err != nil {
		t.Fatal(err)
	}
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	testbin := filepath.Join(testdata, "bin")
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", scripts+string(os.PathListSeparator)+testbin+string(os.PathListSeparator)+env.Getenv("PATH"))
			// Each scenario has its own servers, under its work dir...
			sb := filepath.Join(env.WorkDir, "sb")
			env.Setenv("DR_SANDBOX_DIR", sb)
			// ...but all share the template datadir they are copied from.
			env.Setenv("DR_SANDBOX_TEMPLATE_DIR", os.TempDir())
			env.Setenv(exitFileEnv, filepath.Join(env.WorkDir, ".exitcode"))
			env.Setenv("TESTDATA", testdata)
			env.Defer(func() {
				if err := stopSandboxes(filepath.Join(scripts, "dr-sandbox"), env.Vars); err != nil {
					env.T().Fatal(err)
				}
			})
			return nil
		},
		Cmds:      scriptCmds,
		Condition: scriptCondition,
	})
}
