package config

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// lineIndex maps YAML paths (as built by keyPath and indexPath) to the line
// where the key or list item starts. koanf returns plain maps, which have no
// positions, so the same bytes are also decoded into yaml.Node (the parser
// koanf's YAML parser uses) just to find lines for messages. It is best
// effort: a path it cannot find is reported under its nearest parent's line.
func lineIndex(data []byte) map[string]int {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return nil
	}
	lines := map[string]int{}
	var walk func(path string, n *yaml.Node)
	walk = func(path string, n *yaml.Node) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(path, c)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := keyPath(path, k.Value)
				if _, seen := lines[p]; !seen {
					lines[p] = k.Line
				}
				walk(p, v)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := indexPath(path, i)
				lines[p] = c.Line
				walk(p, c)
			}
		}
		// Aliases are not followed: their paths get the alias's line via the
		// parent, and following them could blow up on alias-heavy input.
	}
	walk("", &doc)
	return lines
}

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
