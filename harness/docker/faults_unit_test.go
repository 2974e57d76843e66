package docker

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/raftcheck/raftcheck/node/storage"
)

// These run without Docker: the parsing and file surgery behind Degrade's
// evidence and Corrupt.

func TestParseLossCounters(t *testing.T) {
	out := `Chain RAFTCHECK-LOSS (1 references)
    pkts      bytes target     prot opt in     out     source               destination
      40     2400            0    --  *      *       172.28.3.11          0.0.0.0/0
      12      720 DROP       0    --  *      *       172.28.3.11          0.0.0.0/0            statistic mode random probability 0.30000000000
       7      420            all  --  *      *       172.28.3.12          0.0.0.0/0
       0        0 DROP       all  --  *      *       172.28.3.12          0.0.0.0/0            statistic mode random probability 0.30000000000
`
	lc := parseLossCounters(out)
	a, b := lc["172.28.3.11"], lc["172.28.3.12"]
	if len(lc) != 2 || a.seen != 40 || a.dropped != 12 || b.seen != 7 || b.dropped != 0 {
		t.Errorf("parsed %+v", lc)
	}
	if lc := parseLossCounters("Chain RAFTCHECK-LOSS (1 references)\n pkts bytes target prot opt in out source destination\n"); len(lc) != 0 {
		t.Errorf("an empty chain parsed as %+v", lc)
	}
}

// record frames a record as node/storage does (documented in its
// record.go): length, CRC-32C of type+payload, type, payload.
func record(typ byte, payload string) []byte {
	body := append([]byte{typ}, payload...)
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(body)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	return append(b, body...)
}

func segmentOf(payloads ...string) []byte {
	b := record(1, "header")
	for _, p := range payloads {
		b = append(b, record(2, p)...)
	}
	return b
}

func TestTearTail(t *testing.T) {
	data := segmentOf("one", "two", "three-three")
	offs, _ := storage.RecordOffsets(data)
	name, torn, cor, err := tearTail([]segment{{"a.log", segmentOf("old")}, {"b.log", data}})
	if err != nil {
		t.Fatal(err)
	}
	got, end := storage.RecordOffsets(torn)
	if name != "b.log" || cor.Offset != offs[3] || len(got) != 3 || end != offs[3] || len(torn) <= int(offs[3]) || len(torn) >= len(data) {
		t.Errorf("tore %s at %d (%d bytes of %d): %d records decode, up to %d; %s", name, cor.Offset, len(torn), len(data), len(got), end, cor.Detail)
	}
	if _, _, _, err := tearTail([]segment{{"a.log", segmentOf()}}); err == nil {
		t.Error("tore a segment holding only its header")
	}
}

func TestFlipByte(t *testing.T) {
	segs := []segment{{"a.log", segmentOf("one", "two")}, {"b.log", segmentOf("three", "four")}}
	name, data, cor, err := flipByte(segs)
	if err != nil {
		t.Fatal(err)
	}
	// Records after the headers: one, two, three, four; the middle one of
	// them (rounding down) is two, in a.log.
	offs, _ := storage.RecordOffsets(segs[0].data)
	got, end := storage.RecordOffsets(data)
	if name != "a.log" || cor.Offset != offs[2] || end != offs[2] || len(got) != 2 || len(data) != len(segs[0].data) {
		t.Errorf("flipped %s at %d: decodes %d records up to %d; %s", name, cor.Offset, len(got), end, cor.Detail)
	}
	if !strings.Contains(cor.Detail, "flipped") {
		t.Errorf("detail %q", cor.Detail)
	}
	if _, _, _, err := flipByte([]segment{{"a.log", segmentOf("only")}}); err == nil {
		t.Error("flipped the only record, which is the last")
	}
}
