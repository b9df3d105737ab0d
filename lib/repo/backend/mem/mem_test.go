package mem

import (
	"testing"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/backend/backendtest"
)

func TestBackend(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return New() })
}
