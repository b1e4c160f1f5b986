package engine

import (
	"os"
	"strconv"
)

func getenvSeed() uint64 {
	v, _ := strconv.ParseUint(os.Getenv("TALOS_SEED"), 10, 64)
	return v
}
