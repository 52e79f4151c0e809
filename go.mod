module github.com/aside-cache/aside

go 1.26.8

require (
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/maypok86/otter/v2 v2.4.0 // indirect
	github.com/redis/rueidis v1.0.79 // indirect
	github.com/sony/gobreaker/v2 v2.4.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
