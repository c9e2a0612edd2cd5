// Command sv2 is a toolbox for people working with Stratum V2 traffic.
//
//	sv2 decode FRAME_HEX...                          decode whole frames (header + payload)
//	sv2 decode --type T [--extension E] [--channel-msg] PAYLOAD_HEX
//	                                                 decode a payload of message type T (of extension E)
//	sv2 keygen [--json]                              generate an authority key pair
//	sv2 probe [flags] HOST:PORT                      connect as a client, print the server's replies
//	sv2 templates [flags]                            serve synthetic templates to a pool, no node needed
//	sv2 sv1-mine [flags] HOST:PORT                   mine on the CPU as Stratum V1 devices do
//
// Each decoded or received frame is printed as one JSON object per line.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	if err := newApp(os.Stdin, os.Stdout, os.Stderr).Run(os.Args); err != nil {
		// cli.Exit errors were already printed by the app, and carry the
		// status (sv2 probe's depends on what the server did).
		if ec, ok := err.(cli.ExitCoder); ok {
			os.Exit(ec.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "sv2:", err)
		os.Exit(1)
	}
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "sv2",
		Usage:     "inspect Stratum V2 traffic",
		Reader:    stdin,
		Writer:    stdout,
		ErrWriter: stderr,
		Commands:  []*cli.Command{decodeCommand(), keygenCommand(), probeCommand(), loadCommand(), templatesCommand(), sv1MineCommand()},
		// Errors are printed once, by main or by cli.Exit, never with the help text.
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return cli.Exit("sv2: "+err.Error(), 1)
		},
		ExitErrHandler: func(c *cli.Context, err error) {
			if ec, ok := err.(cli.ExitCoder); ok && err.Error() != "" {
				fmt.Fprintln(c.App.ErrWriter, ec.Error())
			}
		},
	}
}
