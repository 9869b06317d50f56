// Command stamped prints its version line; ociimage's tests compile it to
// check the flags every image's binaries are built with.
package main

import (
	"fmt"

	"github.com/bgplb/bgplb/internal/version"
)

func main() {
	fmt.Println(version.Get().Line("stamped"))
}
