package ship

import (
	"context"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/backend/remote"
)

func serve(ctx context.Context, be backend.Backend, env *cli.Env) error {
	return remote.Serve(ctx, be, env.Stdin, env.Stdout)
}
