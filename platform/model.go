// Package platform is the application the guide caches: a job platform's
// users, jobs, job results and sessions, served over HTTP (package
// httpapi), stored in SQL (package sqldb), with every read of those tables
// going through the cache (Repository) and every write invalidating what it
// changed.
package platform

import (
	"encoding/json"
	"errors"
	"time"
)

// Errors of the domain. The HTTP layer maps them to statuses in one place.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrInvalid      = errors.New("invalid")
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
)

// User is a person who signs in with an external identity (OpenID).
type User struct {
	ID           int64      `json:"id"`
	OpenID       string     `json:"openId"`
	Name         string     `json:"name"`
	Email        string     `json:"email"`
	Role         Role       `json:"role"`
	CreatedAt    time.Time  `json:"createdAt"`
	UpdatedAt    time.Time  `json:"updatedAt"`
	LastSignedIn *time.Time `json:"lastSignedIn"`
}

// Role is what a user may do.
type Role string

// The roles.
const (
	RoleUser  Role = "user"
	RoleAdmin Role = "admin"
)

// NewUser is what creating a user takes. The password is hashed before
// the database sees it (PasswordHash), and never kept.
type NewUser struct {
	OpenID       string `json:"openId"`
	Name         string `json:"name"`
	Email        string `json:"email"`
	Role         Role   `json:"role"`
	Password     string `json:"password"`
	PasswordHash string `json:"-"`
}

// UserPatch changes the fields that are set. A new password is hashed
// before the database sees it (PasswordHash).
type UserPatch struct {
	OpenID       *string `json:"openId"`
	Name         *string `json:"name"`
	Email        *string `json:"email"`
	Role         *Role   `json:"role"`
	Password     *string `json:"password"`
	PasswordHash *string `json:"-"`
}

// Apply returns u with the patch's fields.
func (p UserPatch) Apply(u User) User {
	if p.OpenID != nil {
		u.OpenID = *p.OpenID
	}
	if p.Name != nil {
		u.Name = *p.Name
	}
	if p.Email != nil {
		u.Email = *p.Email
	}
	if p.Role != nil {
		u.Role = *p.Role
	}
	return u
}

// UserUpdate is what updating a user did: the user before and after, and
// the sessions it ended (a new open id or password ends them all).
type UserUpdate struct {
	Before, After User
	EndedSessions []string
}

// Job is a unit of work a user submitted.
type Job struct {
	ID          int64           `json:"id"`
	UserID      int64           `json:"userId"`
	Type        string          `json:"type"`
	Status      JobStatus       `json:"status"`
	Input       json.RawMessage `json:"input"`
	Progress    int             `json:"progress"`
	Error       *string         `json:"error"`
	CreatedAt   time.Time       `json:"createdAt"`
	UpdatedAt   time.Time       `json:"updatedAt"`
	CompletedAt *time.Time      `json:"completedAt"`
}

// JobStatus is where a job is in its life.
type JobStatus string

// The statuses. Completed and failed are final.
const (
	StatusQueued    JobStatus = "queued"
	StatusRunning   JobStatus = "running"
	StatusCompleted JobStatus = "completed"
	StatusFailed    JobStatus = "failed"
)

// Final reports whether a job in status s can change no more.
func (s JobStatus) Final() bool { return s == StatusCompleted || s == StatusFailed }

// NewJob is what submitting a job takes.
type NewJob struct {
	UserID int64           `json:"userId"`
	Type   string          `json:"type"`
	Input  json.RawMessage `json:"input"`
}

// JobPatch changes the fields that are set.
type JobPatch struct {
	Status   *JobStatus `json:"status"`
	Progress *int       `json:"progress"`
	Error    *string    `json:"error"`
}

// JobResult is the output of a completed job. It never changes once written.
type JobResult struct {
	JobID     int64           `json:"jobId"`
	Result    json.RawMessage `json:"result"`
	CreatedAt time.Time       `json:"createdAt"`
}

// Session is a signed-in user's session. Only the hash of its token is
// stored: a leaked table or cache does not give sessions away.
type Session struct {
	TokenHash string    `json:"tokenHash"`
	UserID    int64     `json:"userId"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Credential is a user as a sign-in checks it: with its password hash,
// which no other read returns.
type Credential struct {
	User         User
	PasswordHash string
}

// SessionTTL is how long a session lasts, the guide's 24 hours.
const SessionTTL = 24 * time.Hour

// MaxSessions is how many live sessions a user keeps: a sign-in past it
// ends the oldest.
const MaxSessions = 10

// JobsPage bounds the jobs one list returns.
const (
	DefaultJobsLimit = 50
	MaxJobsLimit     = 100
)
