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
		{Index: 0, EndIndex: 4, F: "partition", Label: "partition halves", Start: 10, End: 60},
		{Index: 2, EndIndex: 2, F: "kill", Label: "kill kill-leader n3", Start: 30, End: 120, Open: true},
		{Index: 6, EndIndex: 8, F: "pause", Label: "pause n2", Start: 70, End: 100},
	}
	if got := FaultSpans(h.events); !reflect.DeepEqual(got, want) {
		t.Fatalf("FaultSpans\n%+v\nwant\n%+v", got, want)
	}
}

// The harness's final heal-all ends every fault in force, and a partition
// that replaces another ends it.
func TestFaultSpansHealAllAndReplacedPartition(t *testing.T) {
	h := (&hist{}).
		nemesis(Invoke, "partition", []byte(`{"f":"partition","name":"halves"}`)).nemesis(Info, "partition", nil). // 10..20
		nemesis(Invoke, "partition", []byte(`{"f":"partition","name":"ring"}`)).nemesis(Info, "partition", nil).   // 30..40
		nemesis(Invoke, "kill", []byte(`{"f":"kill","nodes":["n1"]}`)).nemesis(Info, "kill", nil).                 // 50..60
		nemesis(Invoke, "heal-all", nil).nemesis(Info, "heal-all", nil)                                            // 70..80
	want := []FaultSpan{
		{Index: 0, EndIndex: 2, F: "partition", Label: "partition halves", Start: 10, End: 40},
		{Index: 2, EndIndex: 6, F: "partition", Label: "partition ring", Start: 30, End: 80},
		{Index: 4, EndIndex: 6, F: "kill", Label: "kill n1", Start: 50, End: 80},
	}
	if got := FaultSpans(h.events); !reflect.DeepEqual(got, want) {
		t.Fatalf("FaultSpans\n%+v\nwant\n%+v", got, want)
	}
}

// A start ends the fault on its nodes, whatever stopped them: a kill or a
// power failure.
func TestFaultSpansStartEndsItsOwnFault(t *testing.T) {
	h := (&hist{}).
		nemesis(Invoke, "kill", []byte(`{"f":"kill","nodes":["n1"]}`)).nemesis(Info, "kill", nil).                               // 10..20
		nemesis(Invoke, "lose-unfsynced", []byte(`{"f":"lose-unfsynced","nodes":["n2"]}`)).nemesis(Info, "lose-unfsynced", nil). // 30..40
		nemesis(Invoke, "start", []byte(`{"f":"start","nodes":["n2"]}`)).nemesis(Info, "start", nil)                             // 50..60
	want := []FaultSpan{
		{Index: 0, EndIndex: 0, F: "kill", Label: "kill n1", Start: 10, End: 60, Open: true},
		{Index: 2, EndIndex: 4, F: "lose-unfsynced", Label: "lose-unfsynced n2", Start: 30, End: 60},
	}
	if got := FaultSpans(h.events); !reflect.DeepEqual(got, want) {
		t.Fatalf("FaultSpans\n%+v\nwant\n%+v", got, want)
	}
}

// A remove is in force until the add that brings its slot back; a
// replace and a leadership transfer are over when their action
// completes; heal-all ends a remove still in force.
func TestFaultSpansMembership(t *testing.T) {
	h := (&hist{}).
		nemesis(Invoke, "remove", []byte(`{"f":"remove","name":"remove-leader","nodes":["n1"]}`)).nemesis(Info, "remove", nil). // 10..20
		nemesis(Invoke, "transfer-leader", []byte(`{"f":"transfer-leader","name":"transfer-leader","nodes":["n3"]}`)).          // 30
		nemesis(Info, "transfer-leader", nil).                                                                                  // 40
		nemesis(Invoke, "add", []byte(`{"f":"add","nodes":["n1"]}`)).nemesis(Info, "add", nil).                                 // 50..60
		nemesis(Invoke, "replace", []byte(`{"f":"replace","name":"replace-one","nodes":["n2"]}`)).                              // 70
		nemesis(Info, "replace", StringValue("replace n2: add back: no leader")).                                               // 80
		nemesis(Invoke, "remove", []byte(`{"f":"remove","name":"remove-one","nodes":["n3"]}`)).nemesis(Info, "remove", nil).    // 90..100
		nemesis(Invoke, "heal-all", nil).nemesis(Info, "heal-all", nil)                                                         // 110..120
	want := []FaultSpan{
		{Index: 0, EndIndex: 4, F: "remove", Label: "remove remove-leader n1", Start: 10, End: 60},
		{Index: 2, EndIndex: 2, F: "transfer-leader", Label: "transfer-leader transfer-leader n3", Start: 30, End: 40},
		{Index: 6, EndIndex: 6, F: "replace", Label: "replace replace-one n2", Start: 70, End: 80},
		{Index: 8, EndIndex: 10, F: "remove", Label: "remove remove-one n3", Start: 90, End: 120},
	}
	if got := FaultSpans(h.events); !reflect.DeepEqual(got, want) {
		t.Fatalf("FaultSpans\n%+v\nwant\n%+v", got, want)
	}
}

// A flipped byte is in force until the start its node refuses (whose
// info carries the error), and the replace that follows is a change of
// its own: the corruption's row gets the refusal, the replace's the new
// member.
func TestFaultSpansFlipByteThenReplace(t *testing.T) {
	h := (&hist{}).
		nemesis(Invoke, "corrupt", []byte(`{"f":"corrupt","name":"flip-byte","nodes":["n3"]}`)).nemesis(Info, "corrupt", nil). // 10..20
		nemesis(Invoke, "start", []byte(`{"f":"start","nodes":["n3"]}`)).nemesis(Info, "start", StringValue("n3 stopped")).    // 30..40
		nemesis(Invoke, "replace", []byte(`{"f":"replace","name":"replace-corrupted","nodes":["n3"]}`)).                       // 50
		nemesis(Info, "replace", nil)                                                                                          // 60
	want := []FaultSpan{
		{Index: 0, EndIndex: 2, F: "corrupt", Label: "corrupt flip-byte n3", Start: 10, End: 40},
		{Index: 4, EndIndex: 4, F: "replace", Label: "replace replace-corrupted n3", Start: 50, End: 60},
	}
	if got := FaultSpans(h.events); !reflect.DeepEqual(got, want) {
		t.Fatalf("FaultSpans\n%+v\nwant\n%+v", got, want)
	}
}
