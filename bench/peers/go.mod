module github.com/aside-cache/aside/bench/peers

go 1.26.0

replace github.com/aside-cache/aside => ../..

require (
	github.com/aside-cache/aside v0.0.0-00010101000000-000000000000
	github.com/go-redis/cache/v9 v9.0.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dgryski/go-rendezvous v0.0.0-20200823014737-9f7001d12a5f // indirect
	github.com/klauspost/compress v1.20.1 // indirect
	github.com/maypok86/otter/v2 v2.4.0 // indirect
	github.com/onsi/gomega v1.42.1 // indirect
	github.com/redis/go-redis/v9 v9.0.0-rc.4 // indirect
	github.com/sony/gobreaker/v2 v2.4.0 // indirect
	github.com/vmihailenco/go-tinylfu v0.2.2 // indirect
	github.com/vmihailenco/msgpack/v5 v5.3.4 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	golang.org/x/net v0.59.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
)
