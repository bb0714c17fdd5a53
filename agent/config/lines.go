package config

import "strings"

// lineOf returns the line of path, or of its nearest parent that has one.
func lineOf(lines map[string]int, path string) int {
	for path != "" {
		if n, ok := lines[path]; ok {
			return n
		}
		path = parentPath(path)
	}
	return 0
}

// parentPath strips the last segment of a path: ".key", "[3]" or `["key"]`.
// A quoted key cannot contain `["` (strconv.Quote escapes the quote), so the
// last `["` starts the last quoted segment.
func parentPath(path string) string {
	switch {
	case strings.HasSuffix(path, `"]`):
		return path[:max(strings.LastIndex(path, `["`), 0)]
	case strings.HasSuffix(path, "]"):
		return path[:max(strings.LastIndexByte(path, '['), 0)]
	}
	dot, br := strings.LastIndexByte(path, '.'), strings.LastIndexByte(path, ']')
	switch {
	case br > dot:
		return path[:br+1]
	case dot >= 0:
		return path[:dot]
	}
	return ""
}
