//go:build !amd64 || purego

package noise

// mul sets z = x·y.
func (z *fe) mul(x, y *fe) *fe { return z.mulGeneric(x, y) }

// square sets z = x².
func (z *fe) square(x *fe) *fe { return z.squareGeneric(x) }
