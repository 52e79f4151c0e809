package sqldb

// The columns every read of a row selects, in the order scan reads them.
const (
	userCols = `id, open_id, name, email, role, created_at, updated_at, last_signed_in`
	jobCols  = `id, user_id, type, status, input, progress, error, created_at, updated_at, completed_at`
)

// queries are written for PostgreSQL; Open rewrites them for SQLite. A
// %FOR_UPDATE% marks where the dialect's row lock goes.
var queries = map[string]string{
	"createUser": `INSERT INTO users (open_id, name, email, role, created_at, updated_at, password_hash)
		VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING ` + userCols,
	"credentials":  `SELECT ` + userCols + `, password_hash FROM users WHERE open_id = $1`,
	"setPassword":  `UPDATE users SET password_hash = $2 WHERE id = $1`,
	"userByID":     `SELECT ` + userCols + ` FROM users WHERE id = $1`,
	"userByOpenID": `SELECT ` + userCols + ` FROM users WHERE open_id = $1`,
	"lockUser":     `SELECT ` + userCols + ` FROM users WHERE id = $1%FOR_UPDATE%`,
	"updateUser": `UPDATE users SET open_id = $2, name = $3, email = $4, role = $5, updated_at = $6
		WHERE id = $1 RETURNING ` + userCols,
	"signIn":       `UPDATE users SET last_signed_in = $2, updated_at = $2 WHERE id = $1 AND open_id = $3 AND password_hash = $4 RETURNING ` + userCols,
	"deleteUser":   `DELETE FROM users WHERE id = $1`,
	"jobIDsOfUser": `SELECT id FROM jobs WHERE user_id = $1`,
	"hashesOfUser": `SELECT token_hash FROM sessions WHERE user_id = $1`,
	"recentUsers":  `SELECT ` + userCols + ` FROM users ORDER BY updated_at DESC, id DESC LIMIT $1`,
	"countUsers":   `SELECT count(*) FROM users`,

	// lockOwner locks a job's owner's row in a write (the column it
	// touches is kept from when it numbered the user's job lists).
	"lockOwner": `UPDATE users SET jobs_gen = jobs_gen + 1 WHERE id = $1`,
	"createJob": `INSERT INTO jobs (user_id, type, status, input, progress, created_at, updated_at)
		VALUES ($1, $2, 'queued', $3, 0, $4, $4) RETURNING ` + jobCols,
	"jobByID":  `SELECT ` + jobCols + ` FROM jobs WHERE id = $1`,
	"jobOwner": `SELECT user_id FROM jobs WHERE id = $1`,
	"lockJob":  `SELECT ` + jobCols + ` FROM jobs WHERE id = $1%FOR_UPDATE%`,
	"updateJob": `UPDATE jobs SET status = $2, progress = $3, error = $4, updated_at = $5, completed_at = $6
		WHERE id = $1 RETURNING ` + jobCols,
	"jobsByUser": `SELECT ` + jobCols + ` FROM jobs WHERE user_id = $1 ORDER BY id DESC LIMIT $2`,
	// A user without jobs is one row of NULL; an unknown user, none.
	"jobIDsByUser": `SELECT j.id FROM users u LEFT JOIN jobs j ON j.user_id = u.id WHERE u.id = $1
		ORDER BY j.id DESC LIMIT $2`,
	"recentJobs": `SELECT ` + jobCols + ` FROM jobs ORDER BY id DESC LIMIT $1`,

	"insertResult": `INSERT INTO job_results (job_id, result, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (job_id) DO NOTHING`,
	"resultByJob": `SELECT r.job_id, r.result, r.created_at FROM job_results r
		JOIN jobs j ON j.id = r.job_id WHERE r.job_id = $1 AND j.status = 'completed'`,

	"createSession": `INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
	"sessionByHash": `SELECT token_hash, user_id, created_at, expires_at FROM sessions WHERE token_hash = $1`,
	"pruneSessions": `DELETE FROM sessions WHERE expires_at <= $1`,
	"deleteSession": `DELETE FROM sessions WHERE token_hash = $1 RETURNING token_hash, user_id, created_at, expires_at`,
	"liveSessions": `SELECT token_hash FROM sessions WHERE user_id = $1 AND expires_at > $2
		ORDER BY created_at DESC, token_hash`,
	"endSessions": `DELETE FROM sessions WHERE user_id = $1 RETURNING token_hash`,
}
