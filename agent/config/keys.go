package config

// A field declares one key of a mapping in schedules.yaml, in one place:
// its name, how to read it, whether it is required, and what the reference
// tables of docs/config.md say of its type and default. Unknown-key and
// did-you-mean messages, required-key messages and the docs test
// (keys_internal_test.go) all come from these declarations.
type field[T any] struct {
	name string
	typ  string // the "type" column of docs/config.md
	def  string // the "default" column; "—" when there is none
	// required, when not "", makes the key required: it is the message
	// when the key is missing, like "is required; name the job (…)".
	required string
	// set reads the key's value v (at path p) into dst; a bad value is
	// reported and leaves dst as it was, so the default still applies.
	set func(l *loader, p string, v any, dst *T)
	// sub is the mapping the key holds, for the docs test. list says the
	// key holds a list of such mappings; bare says docs/config.md names
	// their keys without a prefix (the collectors table does).
	sub        func() docSection
	list, bare bool
}

// A section is the declaration of one kind of mapping.
type section[T any] struct {
	what   string // what the mapping is, for messages: "the gateway"
	fields []field[T]
}

func (s *section[T]) names() []string {
	names := make([]string, len(s.fields))
	for i, f := range s.fields {
		names[i] = f.name
	}
	return names
}

// read checks that v is a mapping of s's keys and nothing else (each unknown
// key is reported with the closest valid one), reports required keys that
// are missing, and reads the present keys into dst in declaration order, so
// that a key may use one declared before it. Rules that tie keys together are
// the caller's, after read.
func (s *section[T]) read(l *loader, p string, v any, dst *T) (object, bool) {
	o, ok := l.object(p, v, s.what, s.names()...)
	if !ok {
		return o, false
	}
	for _, f := range s.fields {
		v, fp, ok := o.get(f.name)
		switch {
		case ok:
			f.set(l, fp, v, dst)
		case f.required != "":
			l.add(fp, "%s", f.required)
		}
	}
	return o, true
}

// docField is what the docs test knows of a field, whatever its section's
// type.
type docField struct {
	name, typ, def string
	required       bool
	sub            func() docSection
	list, bare     bool
}

type docSection interface{ docFields() []docField }

func (s *section[T]) docFields() []docField {
	out := make([]docField, len(s.fields))
	for i, f := range s.fields {
		out[i] = docField{name: f.name, typ: f.typ, def: f.def, required: f.required != "", sub: f.sub, list: f.list, bare: f.bare}
	}
	return out
}
