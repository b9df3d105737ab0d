package pull

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/fsx"
)

// writeMetrics writes --metrics-file in node_exporter's textfile format,
// through a rename so the exporter never reads half a file.
func (p *puller) writeMetrics() error {
	if p.cmd.MetricsFile == "" {
		return nil
	}
	labels := fmt.Sprintf(`{dir=%s}`, strconv.Quote(p.dir))
	behind := int64(0)
	if ts := p.stats.lastEventTS.Load(); ts > 0 && !p.stats.caughtUp.Load() {
		behind = max(0, p.env.Now().Unix()-ts)
	}
	var b strings.Builder
	metric := func(name, typ, help string, v int64) {
		fmt.Fprintf(&b, "# HELP dr_binlog_pull_%s %s\n# TYPE dr_binlog_pull_%s %s\ndr_binlog_pull_%s%s %d\n", name, help, name, typ, name, labels, v)
	}
	metric("bytes_total", "counter", "Bytes of binlog events received from the source.", p.stats.bytes.Load())
	metric("events_total", "counter", "Binlog events received from the source.", p.stats.events.Load())
	metric("files_completed_total", "counter", "Binlog files completed and announced.", p.stats.files.Load())
	metric("reconnects_total", "counter", "Reconnections to the source.", p.stats.reconnects.Load())
	metric("last_event_timestamp_seconds", "gauge", "Timestamp of the last event received, as the source wrote it.", p.stats.lastEventTS.Load())
	metric("seconds_behind_source", "gauge", "Seconds between the last event's timestamp and now; 0 when caught up.", behind)
	metric("durable_position_bytes", "gauge", "Durable position in the active binlog file.", p.statePos)
	if err := fsx.WriteFileAtomic(p.cmd.MetricsFile, []byte(b.String()), 0o644); err != nil {
		return cli.WithCode(cli.ExitIO, fmt.Errorf("write metrics file: %w", err))
	}
	return nil
}
