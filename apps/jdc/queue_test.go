package jdc

import (
	"context"

	"github.com/stratumgo/stratum/core/submit"
	"github.com/stratumgo/stratum/core/sv2"
)

func newTestQueue() (*submit.Queue, error) {
	return submit.New(submit.Config{SendSolution: func(context.Context, *sv2.SubmitSolution) error { return nil }})
}
