package main

import (
	"os"
	"testing"
)

// Colour goes to a character device only, and never when NO_COLOR is set.
func TestNoColorIsHonoured(t *testing.T) {
	dev, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dev.Close() }()
	t.Setenv("NO_COLOR", "")
	if !isTerminal(dev) {
		t.Fatalf("%s is a character device: colour expected", os.DevNull)
	}
	t.Setenv("NO_COLOR", "1")
	if isTerminal(dev) {
		t.Error("NO_COLOR is set, yet the plan would be coloured")
	}
}
