package console

import "io/fs"

func mustSub() fs.FS {
	f, err := fs.Sub(assets, "assets/static")
	if err != nil {
		panic(err) // the embedded tree always has assets/static
	}
	return f
}
