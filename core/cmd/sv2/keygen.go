package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/stratumgo/stratum/core/noise"
)

func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:  "keygen",
		Usage: "generate a new authority key pair for signing Noise certificates",
		Description: `Prints a fresh secp256k1 authority key pair drawn from the operating system's
randomness, as two lines:
  secret_key: <base58check of the 32 raw key bytes>
  public_key: <base58check of [1, 0] and the 32-byte x-only key (spec §4.7)>
The secret key is the form of SRI's authority_secret_key setting and the public key
the form of authority_public_key, the key miners pass to --authority-pubkey.
Keep the secret key private: anyone holding it can impersonate the pool.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: `print one JSON object {"secret_key":"...","public_key":"..."} instead`},
		},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return cli.Exit("sv2 keygen: "+err.Error(), 1)
		},
		Action: runKeygen,
	}
}

func runKeygen(c *cli.Context) error {
	if c.Args().Present() {
		return cli.Exit(fmt.Sprintf("sv2 keygen: unexpected argument %q", c.Args().First()), 1)
	}
	sk, pk, err := noise.GenerateAuthorityKeyPair(nil)
	if err != nil {
		return cli.Exit("sv2 keygen: "+err.Error(), 1)
	}
	keys := struct {
		SecretKey string `json:"secret_key"`
		PublicKey string `json:"public_key"`
	}{noise.FormatSecretKey(sk), pk.String()}
	var out []byte
	if c.Bool("json") {
		// Base58 strings need no escaping, so Marshal cannot fail here.
		out, _ = json.Marshal(keys)
		out = append(out, '\n')
	} else {
		out = fmt.Appendf(nil, "secret_key: %s\npublic_key: %s\n", keys.SecretKey, keys.PublicKey)
	}
	if _, err := c.App.Writer.Write(out); err != nil {
		return cli.Exit("sv2 keygen: "+err.Error(), 1)
	}
	return nil
}
