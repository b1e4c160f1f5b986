package bench

import "os"

// NullTarget stores nothing: Put and Delete succeed at once, Get finds every
// key with an empty value, Scan visits nothing. Run under the same
// generator, its CPU per operation is the harness's own cost (generator,
// runner, histograms), to subtract mentally from in-process targets, whose
// process CPU includes it.
//
// A NullTarget is safe for concurrent use.
type NullTarget struct{ nodes []Node }

// NewNullTarget returns a NullTarget measured through this process.
func NewNullTarget() *NullTarget {
	return &NullTarget{nodes: []Node{&ProcNode{NodeName: "node", PID: os.Getpid()}}}
}

// Put implements Target.
func (*NullTarget) Put(key, value []byte) error { return nil }

// Get implements Target.
func (*NullTarget) Get(dst, key []byte) ([]byte, bool, error) { return dst, true, nil }

// Delete implements Target.
func (*NullTarget) Delete(key []byte) error { return nil }

// Scan implements Target.
func (*NullTarget) Scan(start []byte, limit int, fn func(k, v []byte) bool) (int, error) {
	return 0, nil
}

// Nodes implements Target.
func (t *NullTarget) Nodes() []Node { return t.nodes }

// Close implements Target.
func (*NullTarget) Close() error { return nil }

func init() {
	RegisterTarget(TargetSpec{Name: "null", Summary: "stores nothing: the harness's own CPU cost per operation",
		Modes: []string{ModeSingle}, Replicas: []int{0}, Transport: "in-process", Baseline: true,
		Open: func(string, TargetOptions) (Target, error) { return NewNullTarget(), nil }})
}
