//go:build amd64 && !purego

package noise

// On amd64 the product is assembly (fe_amd64.s): the same schoolbook
// product and reduction as mulGeneric, in registers, where the compiler
// spills and serializes the carry chains. Constant time like the rest: no
// branches, no memory addressed by values. TestFieldAssembly holds it to
// mulGeneric.

// feMul sets z = x·y. z may alias x or y.
//
//go:noescape
func feMul(z, x, y *fe)

// feSquare sets z = x². z may alias x.
//
//go:noescape
func feSquare(z, x *fe)

// mul sets z = x·y.
func (z *fe) mul(x, y *fe) *fe {
	feMul(z, x, y)
	return z
}

// square sets z = x².
func (z *fe) square(x *fe) *fe {
	feSquare(z, x)
	return z
}
