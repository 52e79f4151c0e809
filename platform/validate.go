package platform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Bounds on the text a client may send.
const (
	maxOpenID   = 255
	maxName     = 255
	maxEmail    = 320
	maxJobType  = 64
	maxErrorLen = 4096
)

// Bounds on the JSON a job carries: its input, and its result. A user's
// job list holds up to MaxJobsLimit jobs, so MaxJobInput bounds a cached
// list near 1.6 MiB.
const (
	MaxJobInput  = 16 << 10
	MaxJobResult = 64 << 10
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func checkText(field, v string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(v) == "":
		return invalid("%s is required", field)
	case len(v) > max:
		return invalid("%s is %d bytes, more than %d", field, len(v), max)
	case !utf8.ValidString(v):
		return invalid("%s is not valid UTF-8", field)
	case strings.ContainsRune(v, 0):
		return invalid("%s holds a NUL character", field)
	}
	return nil
}

func checkEmail(v string) error {
	if err := checkText("email", v, maxEmail, false); err != nil {
		return err
	}
	if v != "" && (!strings.Contains(v, "@") || strings.ContainsAny(v, " \t\r\n")) {
		return invalid("email %q is not an address", v)
	}
	return nil
}

func checkRole(r Role) error {
	if r != RoleUser && r != RoleAdmin {
		return invalid("role %q is not one of user, admin", r)
	}
	return nil
}

// Validate checks a new user and fills in the default role.
func (u *NewUser) Validate() error {
	if u.Role == "" {
		u.Role = RoleUser
	}
	if err := checkText("openId", u.OpenID, maxOpenID, true); err != nil {
		return err
	}
	if err := checkText("name", u.Name, maxName, false); err != nil {
		return err
	}
	if err := checkEmail(u.Email); err != nil {
		return err
	}
	if err := checkPassword(u.Password); err != nil {
		return err
	}
	return checkRole(u.Role)
}

// Validate checks a user patch.
func (p UserPatch) Validate() error {
	if p.OpenID == nil && p.Name == nil && p.Email == nil && p.Role == nil && p.Password == nil {
		return invalid("nothing to update: set openId, name, email, role or password")
	}
	if p.Password != nil {
		if err := checkPassword(*p.Password); err != nil {
			return err
		}
	}
	if p.OpenID != nil {
		if err := checkText("openId", *p.OpenID, maxOpenID, true); err != nil {
			return err
		}
	}
	if p.Name != nil {
		if err := checkText("name", *p.Name, maxName, false); err != nil {
			return err
		}
	}
	if p.Email != nil {
		if err := checkEmail(*p.Email); err != nil {
			return err
		}
	}
	if p.Role != nil {
		return checkRole(*p.Role)
	}
	return nil
}

// Validate checks a new job and fills in an empty input as {}.
func (j *NewJob) Validate() error {
	if j.UserID <= 0 {
		return invalid("userId must be a positive integer")
	}
	if err := checkText("type", j.Type, maxJobType, true); err != nil {
		return err
	}
	if len(bytes.TrimSpace(j.Input)) == 0 || bytes.Equal(bytes.TrimSpace(j.Input), []byte("null")) {
		j.Input = json.RawMessage("{}")
	}
	if len(j.Input) > MaxJobInput {
		return invalid("input is %d bytes, more than %d", len(j.Input), MaxJobInput)
	}
	return checkJSON("input", j.Input)
}

// checkJSON accepts valid JSON whose strings hold no NUL character, which
// PostgreSQL cannot store (SQLite can: the two must agree).
func checkJSON(field string, v json.RawMessage) error {
	if !json.Valid(v) {
		return invalid("%s is not valid JSON", field)
	}
	if !bytes.Contains(v, []byte(`\u0000`)) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // the end: json.Valid vouched for the rest
		}
		if s, ok := tok.(string); ok && strings.ContainsRune(s, 0) {
			return invalid("%s holds a NUL character (\\u0000)", field)
		}
	}
}

// Validate checks a job patch.
func (p JobPatch) Validate() error {
	if p.Status == nil && p.Progress == nil && p.Error == nil {
		return invalid("nothing to update: set status, progress or error")
	}
	if p.Status != nil {
		switch *p.Status {
		case StatusQueued, StatusRunning, StatusCompleted, StatusFailed:
		default:
			return invalid("status %q is not one of queued, running, completed, failed", *p.Status)
		}
	}
	if p.Progress != nil && (*p.Progress < 0 || *p.Progress > 100) {
		return invalid("progress %d is outside 0-100", *p.Progress)
	}
	if p.Error != nil {
		return checkText("error", *p.Error, maxErrorLen, false)
	}
	return nil
}

// CheckResult checks a job result's JSON. A null result is no result: it
// would complete the job with nothing to show for it.
func CheckResult(result json.RawMessage) error {
	trimmed := bytes.TrimSpace(result)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return invalid("result is required, and must not be null")
	}
	if len(result) > MaxJobResult {
		return invalid("result is %d bytes, more than %d", len(result), MaxJobResult)
	}
	return checkJSON("result", result)
}
