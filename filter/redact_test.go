package filter

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestViewInspect(t *testing.T) {
	body := `{"Id":"abc","Name":"/web","Config":{"Env":["SECRET=hunter2","EMPTY=","NOVALUE"],"Labels":{"traefik.enable":"true"}},"State":{"Pid":42}}`
	cases := []struct {
		name       string
		view       View
		hidden     bool
		wantEnv    []string
		wantAbsent string
	}{
		{"redact env", View{RedactEnv: true}, false, []string{"SECRET=<redacted>", "EMPTY=<redacted>", "NOVALUE=<redacted>"}, "hunter2"},
		{"label matches", View{LabelKey: "traefik.enable", LabelValue: "true", HasValue: true}, false, []string{"SECRET=hunter2", "EMPTY=", "NOVALUE"}, ""},
		{"label value differs", View{LabelKey: "traefik.enable", LabelValue: "false", HasValue: true}, true, nil, ""},
		{"label key only", View{LabelKey: "traefik.enable"}, false, nil, ""},
		{"label missing", View{LabelKey: "other"}, true, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, hidden, err := c.view.RewriteAnswer(AnswerContainer, []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if hidden != c.hidden {
				t.Fatalf("hidden = %v, want %v", hidden, c.hidden)
			}
			if hidden {
				return
			}
			var doc struct {
				Config struct{ Env []string }
				State  struct{ Pid json.Number }
			}
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatalf("rewritten answer is not JSON: %v", err)
			}
			if doc.State.Pid != "42" {
				t.Errorf("other fields changed: %s", out)
			}
			if c.wantEnv != nil && strings.Join(doc.Config.Env, "|") != strings.Join(c.wantEnv, "|") {
				t.Errorf("Env %v, want %v", doc.Config.Env, c.wantEnv)
			}
			if c.wantAbsent != "" && strings.Contains(string(out), c.wantAbsent) {
				t.Errorf("%q still in %s", c.wantAbsent, out)
			}
		})
	}
}

func TestViewListAndEvents(t *testing.T) {
	v, err := ParseLabelRule("traefik.enable=true")
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	if _, err := v.FilterList(&buf, strings.NewReader(`[{"Id":"a","Labels":{"traefik.enable":"true"}},{"Id":"b","Labels":{}},{"Id":"c"}]`)); err != nil {
		t.Fatal(err)
	}
	out := []byte(buf.String())
	var list []struct{ Id string }
	if err := json.Unmarshal(out, &list); err != nil || len(list) != 1 || list[0].Id != "a" {
		t.Errorf("list %s (%v), want only a", out, err)
	}
	events := []struct {
		event string
		shown bool
	}{
		{`{"Type":"container","Action":"start","Actor":{"ID":"a","Attributes":{"traefik.enable":"true","name":"a"}}}`, true},
		{`{"Type":"container","Action":"start","Actor":{"ID":"b","Attributes":{"name":"b"}}}`, false},
		{`{"Type":"network","Action":"connect","Actor":{"ID":"n","Attributes":{"container":"b","name":"bridge"}}}`, false},
		{`{"Type":"network","Action":"create","Actor":{"ID":"n","Attributes":{"name":"n"}}}`, true},
		{`{"Type":"volume","Action":"mount","Actor":{"ID":"v","Attributes":{"container":"b","destination":"/d"}}}`, false},
		{`{"Type":"image","Action":"pull","Actor":{"ID":"busybox"}}`, true},
		{`not json`, false},
	}
	for _, e := range events {
		if got := v.EventVisible([]byte(e.event)); got != e.shown {
			t.Errorf("EventVisible(%s) = %v, want %v", e.event, got, e.shown)
		}
	}
	buf.Reset()
	if _, err := v.FilterList(&buf, strings.NewReader(`{"message":"x"}`)); err == nil {
		t.Error("FilterList accepted an answer that is not a list")
	}
	if _, err := ParseLabelRule("=x"); err == nil {
		t.Error("ParseLabelRule accepted an empty key")
	}
}

// TestRedactPluginEnv: a plugin shows its environment twice, as the
// values PluginSet gave and as the manifest's objects with a Value.
func TestRedactPluginEnv(t *testing.T) {
	v := View{RedactEnv: true}
	body := `{"Name":"p","Settings":{"Env":["TOKEN=s3cret"]},"Config":{"Env":[{"Name":"TOKEN","Value":"s3cret","Settable":["value"]}]}}`
	for _, k := range []AnswerKind{AnswerPlugin, AnswerPluginList} {
		in := body
		if k == AnswerPluginList {
			in = "[" + body + "]"
		}
		out, hidden, err := v.RewriteAnswer(k, []byte(in))
		if err != nil || hidden {
			t.Fatalf("%v: hidden %v, err %v", k, hidden, err)
		}
		// The answer is JSON-escaped: compare it decoded.
		var decoded any
		if err := json.Unmarshal(out, &decoded); err != nil {
			t.Fatal(err)
		}
		text := fmt.Sprint(decoded)
		if strings.Contains(text, "s3cret") || !strings.Contains(text, "TOKEN="+RedactedValue) || !strings.Contains(text, "Value:"+RedactedValue) {
			t.Errorf("%v: %s", k, text)
		}
	}
}
