package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mmd-dev/mmd/exchange/hashkey"
)

// ErrNoCredentials is returned by Credentials when neither an API key nor a secret source is
// configured, which Load allows only for environment sim: the caller then uses the
// simulator's own credentials.
var ErrNoCredentials = errors.New("no API credentials configured")

// credentialsDirEnv is set by systemd for a unit with LoadCredential=: the secret is placed
// in that directory, readable only by the service, and never sits in the environment.
const credentialsDirEnv = "CREDENTIALS_DIRECTORY"

// Credentials reads the API secret from its source and returns the credentials to sign
// with. The secret is read on demand and never kept in the Config. A relative secretFile is
// looked up first in $CREDENTIALS_DIRECTORY (systemd LoadCredential=), then beside the
// daemon file; trailing newlines are trimmed. The secret is checked by building a signer
// from it (a PUB-PRIV key must be a valid base64 secp256k1 key), so a bad one fails here
// rather than on the first signed call. No error ever contains the secret. The error is
// ErrNoCredentials or a *Problems.
func (c *Config) Credentials(env func(string) string) (hashkey.Credentials, error) {
	env = orNoEnv(env)
	e := c.Exchange
	if e.APIKey == "" && e.SecretFile == "" && e.SecretEnv == "" {
		return hashkey.Credentials{}, ErrNoCredentials
	}
	l := c.loc
	if l.file == "" {
		l.file = "(built-in configuration)"
	}
	fail := func(key, format string, args ...any) (hashkey.Credentials, error) {
		return hashkey.Credentials{}, Problems{l.problem(key, format, args...)}.asError()
	}
	if e.APIKey == "" {
		return fail("exchange.apiKey", "required with a secret source")
	}
	var secret, key string
	switch {
	case e.SecretFile != "" && e.SecretEnv != "":
		return fail("exchange.secretEnv", "give secretFile or secretEnv, not both")
	case e.SecretFile != "":
		key = "exchange.secretFile"
		path, where := c.secretPath(env)
		data, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// The value is not repeated: it names no file, and it may be the secret itself,
			// pasted where its file's name belongs.
			return fail(key, "no such file (looked %s)", where)
		case err != nil:
			return fail(key, "secret file %s: %s", path, strings.TrimPrefix(fileError(err), "cannot read: "))
		}
		secret = strings.TrimRight(string(data), "\r\n")
		clear(data)
		if secret == "" {
			return fail(key, "secret file %s is empty", path)
		}
	case e.SecretEnv != "":
		key = "exchange.secretEnv"
		secret = env(e.SecretEnv)
		if secret == "" {
			// The name is not repeated: a secret pasted where its variable's name belongs can
			// look like a name (letters, digits, _) and pass the syntax check.
			return fail(key, "the environment variable named here is not set or is empty")
		}
	default:
		return fail("exchange", "no secret source: set secretFile or secretEnv")
	}
	creds := hashkey.Credentials{
		APIKey:   e.APIKey,
		AuthType: hashkey.AuthType(e.AuthType),
		Secret:   hashkey.NewSecret(secret),
		Scheme:   hashkey.Scheme(e.Signing),
	}
	if _, err := hashkey.NewSigner(creds); err != nil {
		msg := err.Error()
		// The signer promises not to quote the secret; do not rely on it alone.
		if strings.Contains(msg, secret) {
			msg = "the secret is not valid for auth type " + e.AuthType
		}
		return fail(key, "%s", msg)
	}
	return creds, nil
}

// secretPath resolves secretFile. where says where a relative name was looked for, without
// the name (see Credentials).
func (c *Config) secretPath(env func(string) string) (path, where string) {
	name := c.Exchange.SecretFile
	if filepath.IsAbs(name) {
		return name, "at the absolute path given"
	}
	dir := "."
	if c.Path != "" {
		dir = filepath.Dir(c.Path)
	}
	base, where := filepath.Join(dir, name), "in "+dir+", beside the daemon file"
	creds := env(credentialsDirEnv)
	if creds == "" {
		return base, where
	}
	inDir := filepath.Join(creds, name)
	if _, err := os.Stat(inDir); err == nil {
		return inDir, ""
	}
	return base, "in $" + credentialsDirEnv + " " + creds + ", then " + where
}
