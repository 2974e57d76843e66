package checker

import (
	"reflect"
	"testing"
)

func TestFaultSpans(t *testing.T) {
	h := (&hist{}).
		nemesis(Invoke, "partition", []byte(`{"f":"partition","name":"halves"}`)).nemesis(Info, "partition", nil).      // 10..20
		nemesis(Invoke, "kill", []byte(`{"f":"kill","name":"kill-leader","nodes":["n3"]}`)).nemesis(Info, "kill", nil). // 30..40
		nemesis(Invoke, "heal", nil).nemesis(Info, "heal", nil).                                                        // 50..60
		nemesis(Invoke, "pause", StringValue("n2")).nemesis(Info, "pause", nil).                                        // 70..80
		nemesis(Invoke, "resume", StringValue("n2")).nemesis(Info, "resume", nil).                                      // 90..100
		write(0, "a", 1, OK)                                                                                            // 110..120
	want := []FaultSpan{
		{F: "partition", Label: "partition halves", Start: 10, End: 60},
		{F: "kill", Label: "kill kill-leader n3", Start: 30, End: 120, Open: true},
		{F: "pause", Label: "pause n2", Start: 70, End: 100},
	}
	if got := FaultSpans(h.events); !reflect.DeepEqual(got, want) {
		t.Fatalf("FaultSpans\n%+v\nwant\n%+v", got, want)
	}
}
