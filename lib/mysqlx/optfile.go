package mysqlx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ErrInsecureOptionFile is wrapped by the error for an option file that
// users other than its owner may read. Commands may map it to "refused for
// safety" rather than to a usage error.
var ErrInsecureOptionFile = errors.New("insecure option file")

// maxOptionFile bounds what is read, so that --defaults-file=/dev/zero
// fails instead of eating memory.
const maxOptionFile = 1 << 20

// optionValue is one setting from an option file.
type optionValue struct {
	value    string
	hasValue bool // "key" alone, as in "ssl" or "skip-ssl"
	line     int
}

// options are the settings that apply to dr, from one option file.
type options struct {
	path string
	m    map[string]optionValue
}

func (o *options) get(key string) (optionValue, bool) {
	if o == nil {
		return optionValue{}, false
	}
	v, ok := o.m[key]
	return v, ok
}

// str returns the value of key, "" when it is absent.
func (o *options) str(key string) string {
	v, _ := o.get(key)
	return v.value
}

// where names a setting for error messages: "option file F line 3".
func (o *options) where(key string) string {
	v, _ := o.get(key)
	return fmt.Sprintf("option file %s line %d", o.path, v.line)
}

// clientGroups are the groups the mysql and mariadb clients read, which
// apply in file order, as libmysqlclient applies them; dr's own group
// overrides them all wherever it appears.
var clientGroups = map[string]bool{"client": true, "client-server": true, "client-mariadb": true}

const drGroup = "dr"

// readOptionFile reads a my.cnf-style file, refusing one that group or
// others may read: it may hold a password.
func readOptionFile(path string) (*options, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("option file: %w", err)
	}
	defer f.Close()
	// Check the opened file, not the name, so that the file checked is the
	// file read.
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("option file: %w", err)
	}
	if st.IsDir() {
		return nil, nil, fmt.Errorf("option file %s is a directory", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, nil, fmt.Errorf("option file %s is readable by others (mode %04o); chmod 600 %s: %w",
			path, perm, path, ErrInsecureOptionFile)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxOptionFile+1))
	if err != nil {
		return nil, nil, fmt.Errorf("option file %s: %w", path, err)
	}
	if len(data) > maxOptionFile {
		return nil, nil, fmt.Errorf("option file %s is larger than %d bytes", path, maxOptionFile)
	}
	return parseOptionFile(path, data)
}

// parseOptionFile parses my.cnf syntax as libmysqlclient does:
//
//   - "[group]" starts a group; only [client], [client-server],
//     [client-mariadb] and [dr] are kept, [dr] winning over the others;
//   - "key=value" or "key" alone; '_' and '-' are the same in keys and a
//     "loose-" prefix is dropped;
//   - lines starting with '#' or ';' are comments, and '#' outside quotes
//     starts a comment anywhere;
//   - a value in matching single or double quotes loses them, and the
//     escapes \n \t \r \b \s \\ \" \' are decoded.
//
// "!include" and "!includedir" are not followed: dr reads exactly the file
// it is given, so that what it uses can be checked by reading one file. A
// warning says so, since a password kept in an included file would
// otherwise be missed without a word.
func parseOptionFile(path string, data []byte) (*options, []string, error) {
	var warnings []string
	client := map[string]optionValue{}
	dr := map[string]optionValue{}
	var cur map[string]optionValue // nil: a group dr does not read
	inGroup := false
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	for i, raw := range strings.Split(string(data), "\n") {
		n := i + 1
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '!' {
			directive := strings.Fields(line)[0]
			switch directive {
			case "!include", "!includedir":
				warnings = append(warnings, fmt.Sprintf("option file %s line %d: %s is not followed; put the settings in %s", path, n, directive, path))
				continue
			}
			return nil, warnings, fmt.Errorf("option file %s line %d: unknown directive %q", path, n, directive)
		}
		line = strings.TrimSpace(removeEndComment(line))
		if line == "" {
			continue
		}
		if line[0] == '[' {
			if line[len(line)-1] != ']' {
				return nil, warnings, fmt.Errorf("option file %s line %d: group header without ']'", path, n)
			}
			name := strings.ToLower(strings.TrimSpace(line[1 : len(line)-1]))
			if name == "" {
				return nil, warnings, fmt.Errorf("option file %s line %d: empty group name", path, n)
			}
			inGroup = true
			switch {
			case name == drGroup:
				cur = dr
			case clientGroups[name]:
				cur = client
			default:
				cur = nil
			}
			continue
		}
		if !inGroup {
			return nil, warnings, fmt.Errorf("option file %s line %d: option before any [group]", path, n)
		}
		key, value, hasValue := strings.Cut(line, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		key = strings.ReplaceAll(key, "_", "-")
		key = strings.TrimPrefix(key, "loose-")
		if key == "" {
			return nil, warnings, fmt.Errorf("option file %s line %d: option without a name", path, n)
		}
		if cur == nil {
			continue
		}
		cur[key] = optionValue{value: unquote(strings.TrimSpace(value)), hasValue: hasValue, line: n}
	}
	for k, v := range dr {
		client[k] = v
	}
	return &options{path: path, m: client}, warnings, nil
}

// removeEndComment cuts a line at the first '#' outside quotes, following
// libmysqlclient's remove_end_comment.
func removeEndComment(line string) string {
	var quote byte
	escape := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		if (c == '\'' || c == '"') && !escape {
			switch quote {
			case 0:
				quote = c
			case c:
				quote = 0
			}
		}
		if quote == 0 && c == '#' {
			return line[:i]
		}
		escape = quote != 0 && c == '\\' && !escape
	}
	return line
}

// unquote strips matching quotes and decodes escapes, as libmysqlclient
// does for option values.
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
	}
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' || i == len(v)-1 {
			b.WriteByte(c)
			continue
		}
		i++
		switch v[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'b':
			b.WriteByte('\b')
		case 's':
			b.WriteByte(' ')
		case '"', '\'', '\\':
			b.WriteByte(v[i])
		default:
			b.WriteByte('\\')
			b.WriteByte(v[i])
		}
	}
	return b.String()
}
