package budget_test

import (
	"testing"

	"github.com/aimeter/aimeter/budget"
	"github.com/aimeter/aimeter/budget/ledgertest"
)

func BenchmarkGuardMemory(b *testing.B) {
	ledgertest.BenchmarkGuard(b, budget.NewMemory(budget.MemoryConfig{}))
}

func BenchmarkMemoryLedger(b *testing.B) {
	ledgertest.BenchmarkReserveSettle(b, budget.NewMemory(budget.MemoryConfig{}))
}
