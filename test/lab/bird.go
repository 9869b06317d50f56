package lab

import "fmt"

func startBIRD(l *Lab) (Router, error) {
	return nil, fmt.Errorf("the BIRD router is not implemented yet")
}
