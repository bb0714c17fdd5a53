package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The config types decodeFlat is checked against: every field kind it
// handles, and the things it must leave to encoding/json.

type flatConfig struct {
	S        string      `json:"s"`
	I        int         `json:"i"`
	I8       int8        `json:"i8"`
	I64      int64       `json:"i64"`
	U16      uint16      `json:"u16"`
	U        uint        // keyed by its Go name
	F        float64     `json:"f"`
	F32      float32     `json:"f32"`
	B        bool        `json:"b,omitempty"`
	Q        int         `json:"q,string"`
	N        json.Number `json:"n"`
	L        []string    `json:"l"`
	P        *int        `json:"p"`
	T        textValue   `json:"t"`
	J        jsonValue   `json:"j"`
	Dash     int         `json:"-"`
	DashName int         `json:"-,"`
	Named    namedString `json:"named"`
	Odd      int         `json:"a-b.c"`
	Opts     int         `json:",omitempty"`
	hidden   int
}

type namedString string

type textValue string

func (t *textValue) UnmarshalText(b []byte) error { *t = textValue("text:" + string(b)); return nil }

type jsonValue string

func (j *jsonValue) UnmarshalJSON(b []byte) error { *j = jsonValue("json:" + string(b)); return nil }

type embedding struct {
	namedStruct
	X int `json:"x"`
}

type namedStruct struct{ Y int }

type oddTag struct {
	A     int `json:"a"`
	Space int `json:"a b"`
}

type twice struct {
	A int
	B int `json:"A"`
}

type selfDecoding struct{ A int }

func (s *selfDecoding) UnmarshalJSON([]byte) error { s.A = 42; return nil }

type small struct {
	Series int `json:"series"`
}

// newConfigs returns fresh values of each config type, with defaults set.
func newConfigs() []any {
	return []any{
		&flatConfig{S: "default", I: 7, F: 1.5, B: true, hidden: 3},
		&small{Series: 20},
		&embedding{X: 1},
		&twice{A: 1, B: 2},
		&oddTag{A: 1},
		&selfDecoding{A: 1},
		new(map[string]any),
		new(int),
	}
}

// decoderPath is DecodeConfig without decodeFlat.
func decoderPath(config []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if len(bytes.TrimSpace(config[dec.InputOffset():])) > 0 {
		return errors.New("data after the value")
	}
	return nil
}

// checkDecodeFlat holds decodeFlat to the decoder: where it decodes, the
// decoder must succeed with the same result; where it does not, it must
// have left the value alone.
func checkDecodeFlat(t *testing.T, config string) (handled int) {
	t.Helper()
	fast, slow, fresh := newConfigs(), newConfigs(), newConfigs()
	for i := range fast {
		ok := decodeFlat([]byte(config), fast[i])
		if !ok {
			if !reflect.DeepEqual(fast[i], fresh[i]) {
				t.Fatalf("config %q into %T: declined, but changed the value to %+v", config, fast[i], fast[i])
			}
			continue
		}
		handled++
		err := decoderPath([]byte(config), slow[i])
		if err != nil {
			t.Fatalf("config %q into %T: decoded to %+v, but the decoder says %v", config, fast[i], fast[i], err)
		}
		if !reflect.DeepEqual(fast[i], slow[i]) {
			t.Fatalf("config %q into %T: decoded to %+v, the decoder to %+v", config, fast[i], fast[i], slow[i])
		}
	}
	return handled
}

var flatConfigSeeds = []string{
	`{"series":20}`, ` { "series" : 20 } `, "{\"series\":\t-0}\r\n", `{}`, `{"series":20,"series":3}`,
	`{"s":"x","i":-5,"i8":127,"i64":-9223372036854775808,"u16":65535,"U":3,"f":2.5e3,"f32":0.1,"b":false,"named":"n","a-b.c":1,"Opts":2}`,
	`{"s":null,"i":null,"b":true}`, `{"i8":128}`, `{"i8":-129}`, `{"u16":65536}`, `{"u16":-1}`, `{"i":1.0}`, `{"i":1e2}`,
	`{"f32":1e39}`, `{"f":1e400}`, `{"f":-0.0}`, `{"f":01}`, `{"f":.5}`, `{"f":1.}`, `{"f":1e}`, `{"f":-}`, `{"f":+1}`,
	`{"s":"a\"b"}`, `{"s":"\u00e9"}`, `{"s":"é"}`, "{\"s\":\"a\tb\"}", `{"S":"case"}`, `{"series":20`, `{"series":20}x`,
	`{"series":20} {}`, `{"series":"20"}`, `{"q":"5"}`, `{"n":"5"}`, `{"n":5}`, `{"l":["a"]}`, `{"p":1}`, `{"t":"x"}`,
	`{"j":1}`, `{"Dash":1}`, `{"-":1}`, `{"hidden":1}`, `{"a b":1}`, `{"x":1}`, `{"Y":1}`, `{"a":5}`, `{"A":5}`,
	`null`, `[]`, `5`, `"x"`, `{"b":tru}`, `{"b":truex}`, `{"b":nul}`, `{"b":1}`, `{"s":5}`, `{"i":"5"}`, `{,}`,
	`{"series":20,}`, `{"series" 20}`, `{"series":20 "i":1}`, `{"i":9223372036854775808}`, `{"U":18446744073709551615}`,
}

func TestDecodeFlatMatchesDecoder(t *testing.T) {
	handled := 0
	for _, config := range flatConfigSeeds {
		handled += checkDecodeFlat(t, config)
	}
	if handled < 10 {
		t.Errorf("decodeFlat handled only %d of the seed configs; it should take the common ones", handled)
	}
	// The common config must not need the decoder.
	var cfg small
	if !decodeFlat([]byte(`{"series": 3}`), &cfg) || cfg.Series != 3 {
		t.Errorf(`decodeFlat({"series": 3}) declined or decoded %+v`, cfg)
	}
}

func TestDecodeConfigErrorsUnchanged(t *testing.T) {
	// The errors come from the decoder, whatever decodeFlat declines.
	for config, want := range map[string]string{
		`{"series":"20"}`:     `sdk: decoding config: json: cannot unmarshal string into Go struct field small.series of type int`,
		`{"serie":20}`:        `sdk: decoding config: json: unknown field "serie"`,
		`{"series":20} {}`:    `sdk: decoding config: unexpected data after the JSON value`,
		`{"series":1.5}`:      `sdk: decoding config: json: cannot unmarshal number 1.5 into Go struct field small.series of type int`,
		`{"series":20`:        `sdk: decoding config: unexpected EOF`,
		`{"series":20,"x":1}`: `sdk: decoding config: json: unknown field "x"`,
	} {
		cfg := small{Series: 20}
		err := newCollection([]byte(config), nil).DecodeConfig(&cfg)
		if err == nil || err.Error() != want {
			t.Errorf("config %s: error %v, want %s", config, err, want)
		}
	}
}

func FuzzDecodeFlat(f *testing.F) {
	for _, config := range flatConfigSeeds {
		f.Add(config)
	}
	f.Fuzz(func(t *testing.T, config string) {
		if strings.Count(config, ":") > 64 {
			return
		}
		checkDecodeFlat(t, config)
	})
}
