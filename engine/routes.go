package engine

import "sync"

// routes maps our orders' IDs to the strategy (runner index) that owns them, so the router
// can hand each private-stream message to the right order manager. An order is routed
// before its insert is sent, because its order_return may arrive before the REST answer.
type routes struct {
	mu    sync.RWMutex
	local map[string]int
	sys   map[string]int
}

func newRoutes() *routes {
	return &routes{local: make(map[string]int), sys: make(map[string]int)}
}

func (r *routes) add(localID string, idx int) {
	r.mu.Lock()
	r.local[localID] = idx
	r.mu.Unlock()
}

func (r *routes) addSys(sysID string, idx int) {
	if sysID == "" {
		return
	}
	r.mu.Lock()
	r.sys[sysID] = idx
	r.mu.Unlock()
}

func (r *routes) remove(localID, sysID string) {
	r.mu.Lock()
	delete(r.local, localID)
	if sysID != "" {
		delete(r.sys, sysID)
	}
	r.mu.Unlock()
}

// lookup finds the owner by local ID, else by system ID.
func (r *routes) lookup(localID, sysID string) (int, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if localID != "" {
		if idx, ok := r.local[localID]; ok {
			return idx, true
		}
	}
	if sysID != "" {
		if idx, ok := r.sys[sysID]; ok {
			return idx, true
		}
	}
	return 0, false
}
