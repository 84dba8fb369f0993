package wire

// The response cache's memory (worker/cache): one memfd per layout,
// created by the master for a generation whose config has cached hosts,
// inherited by each of its workers at the fd of FDCache, and laid out as
// EnvCache says: one cache.Store per tenant, back to back.

// FDCache is the response cache's memory region (a memfd; EnvCache).
const FDCache FDKind = "cache"

// EnvCache is the layout of the FDCache region: CacheLayout as JSON.
const EnvCache = "ROCKSTAR_CACHE"

// CacheSlot is where one tenant's cache store lies in the region.
type CacheSlot struct {
	// Tenant is the tenant's ID, "" for hosts of no tenant.
	Tenant string `json:"tenant"`
	// Off and Size are the store's bytes: [Off, Off+Size), Off a multiple
	// of 64.
	Off  int `json:"off"`
	Size int `json:"size"`
}

// CacheLayout is the FDCache region's stores, by tenant.
type CacheLayout struct {
	Stores []CacheSlot `json:"stores"`
}
