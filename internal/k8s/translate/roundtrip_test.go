package translate_test

// Helpers of the fuzz targets: an object's trip through JSON, as the API
// server stores and returns it, and a comparison of two translations that
// takes nil and empty lists for the same. The targets' seeds are in
// testdata/fuzz, a file a case named after it, which go test runs as
// ordinary tests.

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// viaJSON returns obj after a trip through JSON.
func viaJSON[T any](t *testing.T, obj *T) *T {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatalf("marshal %T: %v", obj, err)
	}
	out := new(T)
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("unmarshal %T from %s: %v", obj, raw, err)
	}
	return out
}

// allUTF8 tells whether every string is valid UTF-8: JSON replaces
// invalid bytes, so only such strings survive a trip through it.
func allUTF8(values ...string) bool {
	for _, v := range values {
		if !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

// sameTranslation fails the test unless two translations (a value, or an
// error) say the same. Label selectors are compared by their
// requirements, everything else by its JSON with empty lists, maps and
// nulls left out.
func sameTranslation(t *testing.T, what string, a, b any, errA, errB error) {
	t.Helper()
	if fmt.Sprint(errA) != fmt.Sprint(errB) {
		t.Fatalf("%s: errors differ after a trip through JSON: %v, then %v", what, errA, errB)
	}
	if errA != nil {
		return
	}
	if ja, jb := normalJSON(t, a), normalJSON(t, b); ja != jb {
		t.Fatalf("%s: translations differ after a trip through JSON:\n%s\n%s", what, ja, jb)
	}
	if sa, sb := selectorsOf(reflect.ValueOf(a)), selectorsOf(reflect.ValueOf(b)); sa != sb {
		t.Fatalf("%s: selectors differ after a trip through JSON:\n%s\n%s", what, sa, sb)
	}
}

// normalJSON is v's JSON with empty lists, empty maps and nulls left out.
func normalJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(dropEmpty(generic))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func dropEmpty(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e = dropEmpty(e); e == nil {
				delete(v, k)
			} else {
				v[k] = e
			}
		}
		if len(v) == 0 {
			return nil
		}
	case []any:
		for i := range v {
			v[i] = dropEmpty(v[i])
		}
		if len(v) == 0 {
			return nil
		}
	}
	return v
}

// selectorsOf prints every field of v (a struct, or a pointer to one)
// whose name ends in Selectors, which JSON cannot show.
func selectorsOf(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	var b strings.Builder
	for i := range v.NumField() {
		if name := v.Type().Field(i).Name; strings.HasSuffix(name, "Selectors") {
			fmt.Fprintf(&b, "%s: %v\n", name, v.Field(i).Interface())
		}
	}
	return b.String()
}

// fuzzSelectors builds label selectors from fuzzed text: one with a label
// to match, and one with an expression whose values are comma-separated.
// Empty text gives none.
func fuzzSelectors(key, value, operator, values string) []metav1.LabelSelector {
	if key == "" && value == "" && operator == "" && values == "" {
		return nil
	}
	expression := metav1.LabelSelectorRequirement{Key: key, Operator: metav1.LabelSelectorOperator(operator)}
	if values != "" {
		expression.Values = strings.Split(values, ",")
	}
	return []metav1.LabelSelector{
		{MatchLabels: map[string]string{key: value}},
		{MatchExpressions: []metav1.LabelSelectorRequirement{expression}},
	}
}
