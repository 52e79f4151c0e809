package main

import (
	"fmt"
	"os"

	"github.com/aside-cache/aside/redistest"
)

// privateRedis starts a redis-server of the scenario's own, on a free
// loopback port with its files in a temporary folder (dir, which the
// scenario may use too), so that a scenario may fill and flush it; stop
// stops it and removes the folder.
func privateRedis(name string) (srv *redistest.Server, dir string, stop func(), err error) {
	dir, err = os.MkdirTemp("", "aside-"+name+"-")
	if err != nil {
		return nil, "", nil, err
	}
	srv, err = redistest.New(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", nil, fmt.Errorf("start redis-server: %w", err)
	}
	return srv, dir, func() { srv.Stop(); os.RemoveAll(dir) }, nil
}
