// The one table of error codes, and the error class that carries them.
//
// Every error that the library or the CLI raises has a stable `code` from this table, prefixed
// `EVSMMU_` so that it cannot be mistaken for one of Node's system codes (`EINVAL`, `ENOMEM`).
// Each entry says what the code means, what to do about it, and its `kind`:
//   input  - the caller's options, arguments or files are wrong (CLI exit 2);
//   run    - the system ran but something in it failed: a guest crashed or hung, a check failed
//            (CLI exit 1);
//   bug    - an internal invariant of vsmmu broke; please report it (CLI exit 1).
// This module imports nothing, so every layer (src/arch included) may import it.
// docs/api.md lists the same table; a test keeps the two, and every code thrown in src/, in step.

export type ErrorKind = 'input' | 'run' | 'bug';

export interface CodeInfo {
  readonly kind: ErrorKind;
  readonly meaning: string;
  readonly fix: string;
}

const code = (kind: ErrorKind, meaning: string, fix: string): CodeInfo => ({ kind, meaning, fix });

export const ERROR_CODES = {
  // ---- options, arguments and files from a user of the API or CLI ----
  EVSMMU_BADOPTIONS: code('input', 'an option of createSystem() or of a CLI command is out of range or of the wrong type', 'correct the option the message names; docs/api.md gives every option with its range'),
  EVSMMU_USAGE: code('input', 'a CLI command was called with arguments it does not take', "run 'vsmmu <command> --help' and pass the arguments it lists"),
  EVSMMU_FILE: code('input', 'a file named on the command line cannot be read', 'check the path and its permissions'),
  EVSMMU_BADSIZE: code('input', 'a size (RAM, page, queue) is not a valid size', 'write a whole number of bytes or a number with a K/M/G suffix, within the range the message gives'),
  EVSMMU_TRACE: code('input', 'system.trace was used out of order: start() while tracing, stop() while not tracing, or a runner that records no trace', 'call trace.start() once, then trace.stop(); docs/tracing.md'),
  EVSMMU_INVAL: code('input', 'an argument to an API call is invalid (not a whole number, out of range, of the wrong type)', 'pass a value within the range the message gives'),
  EVSMMU_XLCFG_SYNTAX: code('input', 'an xl.cfg file does not parse', 'fix the file at the line and column the message names (xl.cfg(5) syntax: KEY = VALUE)'),
  EVSMMU_XLCFG_UNKNOWN_KEY: code('input', 'an xl.cfg file has a key vsmmu does not know', 'remove the key or correct its spelling'),
  EVSMMU_XLCFG_MISSING_KEY: code('input', 'an xl.cfg file lacks a required key', 'add the key; the message shows an example line'),
  EVSMMU_XLCFG_BAD_VALUE: code('input', 'an xl.cfg key has a value of the wrong type or range', 'correct the value at the line the message names'),
  EVSMMU_XEN_CMDLINE: code('input', "Xen's command line has an option vsmmu cannot parse", 'write viommu=<boolean> as Xen accepts it (1/0, yes/no, on/off, true/false, enable/disable)'),
  EVSMMU_VIOMMU_TYPE: code('input', 'a domain asks for a vIOMMU type other than smmuv3', 'write viommu = "smmuv3" or leave the key out'),
  EVSMMU_VIOMMU_DISABLED: code('input', 'a domain asks for a vIOMMU but Xen was booted without viommu', 'boot Xen with viommu=1 (xen.cmdline) or drop viommu from the domain'),
  EVSMMU_VIOMMU_UNSUPPORTED: code('input', 'the physical SMMU cannot nest stage 1 over stage 2, so no vSMMU can be offered', 'give the SMMU both stages (features s1p and s2p)'),
  EVSMMU_DOMAIN_DUPLICATE: code('input', 'two domains have the same name', 'give every domain its own name'),
  EVSMMU_DEVICE_DUPLICATE: code('input', 'a domain has two devices with the same name', 'give every device of a domain its own name'),
  EVSMMU_SID_CONFLICT: code('input', 'two devices claim the same physical StreamID', 'give every device its own StreamID'),
  EVSMMU_SID_RANGE: code('input', "a device's StreamID does not fit the physical SMMU's SIDSIZE", 'use a smaller StreamID or raise smmu.sidBits'),
  EVSMMU_SMMU_INDEX: code('input', 'a device is behind a physical SMMU that does not exist', 'use SMMU index 0 (one physical SMMU is emulated)'),
  EVSMMU_DTDEV_NOT_FOUND: code('input', 'an xl.cfg dtdev path names no node of the host device tree', "use a device path that 'vsmmu dt --host' prints"),
  EVSMMU_DTDEV_NO_IOMMU: code('input', 'an xl.cfg dtdev path names a node behind no SMMU (it has no iommus property)', "pass through a device with iommus (the DMA devices of 'vsmmu dt --host')"),
  EVSMMU_IOMEM: code('input', "an xl.cfg iomem range is not MMIO of a device given to the domain, or lands on the guest's RAM or vSMMU", "give the reg pages of a dtdev device ('vsmmu dt --host') at free guest frames"),
  EVSMMU_IRQS: code('input', 'an xl.cfg irqs entry is not an interrupt of a device given to the domain', "list interrupts of the dtdev devices ('vsmmu dt --host')"),
  EVSMMU_IRQ_VSMMU_SPI: code('input', "an xl.cfg irqs entry is INTID 33, the SPI the vSMMUv3 series reserves for the domain's vSMMU", 'route no device to INTID 33 in a domain with a vSMMU (profile rfc: nor in one with a partial device tree); docs/profiles.md'),
  EVSMMU_PARTIAL_DT: code('input', 'an xl.cfg device_tree file cannot be read or is malformed (no /passthrough node, iommus not <phandle StreamID> pairs of the host SMMU)', 'fix the file the message names: a /passthrough node whose devices copy their host iommus'),
  EVSMMU_PARTIAL_DT_DEVICE: code('input', 'a partial device tree describes a device (by the StreamID in its iommus) that the domain is not given', "add the device's host path to dtdev, or remove its node"),
  EVSMMU_DTS_SYNTAX: code('input', 'a device-tree source does not parse', 'fix the source at the line and column the message names'),
  EVSMMU_DT: code('input', 'a device tree lacks a node or property the reader needs', 'add the node or property the message names'),
  EVSMMU_DT_CELL: code('input', 'a device-tree cell value does not fit 32 bits', 'use a value below 2^32'),
  EVSMMU_DT_IOMMU_MAP: code('input', 'an iommu-map entry of the vPCI host bridge is malformed', 'give RID and StreamID ranges that fit 32 bits and do not overlap'),
  EVSMMU_DT_IRQ: code('input', 'an interrupt number cannot be written as a GIC SPI or PPI', 'use an SPI (32..1019) or PPI (16..31)'),
  EVSMMU_DT_VSID: code('input', 'a virtual StreamID does not fit 32 bits', 'use a StreamID below 2^32'),
  EVSMMU_DT_WINDOW: code('input', 'too many passthrough devices for the guest MMIO window', 'assign fewer devices to the domain'),
  EVSMMU_UNKNOWN_DOMAIN: code('input', 'system.domain(name) names no domain', 'use one of the domain names the message lists'),
  EVSMMU_UNKNOWN_DEVICE: code('input', 'domain.device(name) names no device of that domain', 'use one of the device names the message lists'),
  EVSMMU_NOTATTACHED: code('input', 'a DMA mapping was asked for before any device was attached', 'attach a device first (domain.device(name) attaches on boot; check the domain config)'),
  EVSMMU_AMBIGUOUS: code('input', 'a call needs one io domain but the domain has several', 'pass the device (or ASID) the call is for'),
  EVSMMU_BADDMA: code('input', 'a DMA request is malformed (address, length, direction or data)', 'pass a whole-number iova below 2^53, a length within the limit and data of that length'),
  EVSMMU_GUEST_RANGE: code('input', "an access to guest memory falls outside the domain's RAM", "stay within the domain's RAM (domain.memory.size), in the caller half documented in docs/api.md"),
  EVSMMU_BADRANGE: code('input', 'an address range is empty, negative or wraps', 'pass a start and a length that stay within 2^64'),
  EVSMMU_BADALIGN: code('input', 'an alignment is not a power of two', 'pass a power-of-two alignment'),
  EVSMMU_BADFREE: code('input', 'something is freed that was not allocated (pages, VMID, vSID, buffer)', 'free only what alloc() returned, once'),
  EVSMMU_EXIST: code('input', 'an IOVA is mapped twice', 'unmap it first, or map another IOVA'),
  EVSMMU_BUSY: code('input', 'a StreamID is already assigned to a domain', 'detach the device from its domain first'),
  EVSMMU_NOMEM: code('run', 'an allocator (host RAM, Xen heap, guest pages, IOVA space) is out of memory', 'give the system more memory (options.memory, a domain\'s memory) or free what is no longer used'),
  EVSMMU_NOVMID: code('run', 'every VMID is in use', 'destroy a domain, or give the SMMU more VMID bits (smmu.vmidBits)'),
  EVSMMU_NODOMAIN: code('input', 'no domain has that domid', 'use the domid returned when the domain was created'),
  EVSMMU_NODEV: code('input', 'a domain has no device with that StreamID', 'assign the device to the domain first'),
  EVSMMU_NOVIOMMU: code('input', 'the domain has no vSMMU', 'create the domain with viommu: "smmuv3"'),
  EVSMMU_VSID: code('input', 'a physical StreamID already has a virtual StreamID', 'release the old assignment first'),
  EVSMMU_SID: code('input', "a StreamID is outside the SMMU's range", 'use a StreamID below 2^sidBits'),
  EVSMMU_MEM_RANGE: code('input', 'a physical memory access falls outside host memory', 'stay below options.memory'),
  EVSMMU_MEM_ALIGN: code('input', 'a 64-bit physical memory access is not 8-byte aligned', 'align the address to its access size'),
  EVSMMU_BADMEM: code('input', 'a memory handle is not one vsmmu made', 'pass the SharedArrayBuffer or handle that vsmmu gave you'),
  EVSMMU_BADVALUE: code('input', 'a value to write has the wrong type', 'pass a bigint for 64-bit writes, a number for narrower ones'),
  EVSMMU_HOST: code('input', 'this host cannot run vsmmu', 'run on a little-endian host (x86-64, arm64)'),
  EVSMMU_SMMU_CONFIG: code('input', 'an SMMU option is out of range', 'correct the smmu option the message names'),
  EVSMMU_SMMU_UNSUPPORTED: code('input', "the SMMU's features do not allow what the driver needs", 'enable the feature the message names in options.smmu.features'),
  EVSMMU_QUEUE_URL: code('input', 'a campaign queue is not a redis://HOST:PORT URL', 'write the Redis server as redis://HOST:PORT (optionally redis://:PASSWORD@HOST:PORT/DB)'),
  EVSMMU_CAMPAIGN_DEPS: code('input', 'campaigns need the optional packages bullmq and ioredis, which are not installed', 'npm install bullmq ioredis'),
  EVSMMU_CAMPAIGN_UNKNOWN: code('input', 'no campaign of that name is on the queue', "start it first (vsmmu campaign start), or name the campaign with --name"),
  EVSMMU_CAMPAIGN_CONFLICT: code('input', 'a campaign of that name already exists with other settings', 'give the new campaign another --name'),
  EVSMMU_CAMPAIGN_KIND: code('input', 'a campaign kind is unknown or not available, or its runner module exports no runSeed', 'use --kind stress or fuzz, or a runner module that exports runSeed'),
  // ---- things that went wrong while the system ran ----
  EVSMMU_DOMAIN_CRASHED: code('run', "a guest's worker thread exited or threw, or Xen crashed the domain (a physical CMD_SYNC of its timed out); its domain was destroyed", 'read the cause in error.message and error.details; the other domains go on'),
  EVSMMU_DOMAIN_HUNG: code('run', 'a guest did not answer within guestTimeoutMs; its domain was destroyed', 'raise guestTimeoutMs if the guest was only slow'),
  EVSMMU_DOMAIN_DESTROYED: code('run', 'a call was made on a domain that has been destroyed', 'stop using the handle once the domain is destroyed'),
  EVSMMU_DESTROYED: code('run', 'a call was made on an object that has been torn down', 'stop using the object once it is destroyed'),
  EVSMMU_GUEST_SEA: code('run', 'a guest MMIO access hit no device (a synchronous external abort on hardware)', 'access only the MMIO regions in the guest device tree'),
  EVSMMU_SMMU_PROBE: code('run', 'the physical SMMU is unusable for Xen (missing features)', 'enable the features the message names'),
  EVSMMU_SMMU_TIMEOUT: code('run', 'the SMMU did not acknowledge a register write or CMD_SYNC in time', 'the SMMU thread is stalled or dead; see the other errors of the run'),
  EVSMMU_TIMEOUT: code('run', 'a queue stayed full for longer than the time allowed', 'the consumer is stalled or dead; see the other errors of the run'),
  EVSMMU_QUEUE_UNREACHABLE: code('run', "a campaign's Redis server does not answer", 'start redis-server, or correct the host and port of --queue'),
  EVSMMU_CHECK: code('run', 'a check of a run failed (vsmmu run, stress, fuzz)', 'read the failed checks in the report; a stress or fuzz failure prints the command that replays it'),
  EVSMMU_WORKER_EXIT: code('run', 'a worker thread exited', 'read the exit code and the errors printed before it'),
  EVSMMU_WORKER_ERROR: code('run', 'a worker thread threw', 'read the cause in error.details'),
  EVSMMU_ACTOR_START: code('run', 'an actor failed to start on its worker thread', 'read the cause in the message; usually an option out of range'),
  EVSMMU_ACTOR_CLOSED: code('run', "a call was made on an actor's closed control port", 'stop using the system once it is closed'),
  EVSMMU_ACTOR_DESTROYED: code('run', 'an actor was destroyed while a call was in flight', 'stop using the system once it is closed'),
  EVSMMU_TRAP_CLOSED: code('run', 'a trap channel was closed while a vCPU used it', 'the domain is being destroyed'),
  EVSMMU_TRAP_TIMEOUT: code('run', 'an MMIO trap was not answered in time', 'Xen is stalled or dead; see the other errors of the run'),
  EVSMMU_RING_CLOSED: code('run', 'a ring was closed while in use', 'the actor at the other end is gone'),
  EVSMMU_IRQ_CLOSED: code('run', 'an interrupt bank was closed while in use', 'the actor at the other end is gone'),
  EVSMMU_XEN_PANIC: code('run', "the hypervisor panicked: a guest triggered one of the series' BUG()s (xen.profile 'rfc' or 'v3'), and the whole system stopped", 'read error.details (the BUG, the reference section, the domain and StreamID); docs/profiles.md lists the BUGs; the hardened profile has none'),
  EVSMMU_SIM_DEADLOCK: code('run', 'in sim mode, a wait can never end: no actor has work and none has a deadline (a vCPU whose trap nobody will answer)', 'read the replay command; the actor the message names is stuck'),
  EVSMMU_SIM_LIVELOCK: code('run', 'in sim mode, a wait took more steps than sim.maxWaitSteps without its condition', 'replay the seed; raise sim.maxWaitSteps if the run was only long'),
  // ---- internal invariants (please report) ----
  EVSMMU_INTERNAL: code('bug', 'an unexpected exception inside vsmmu', 'please report it with error.details.stack'),
  EVSMMU_ACTOR_CONTEXT: code('bug', 'an actor entry was run outside a worker thread', 'run actor entries only through the runtime'),
  EVSMMU_ACTOR_ENTRY: code('bug', 'a worker entry name is not one of vsmmu\'s', 'use an entry from workers/'),
  EVSMMU_TRAP_CONFIG: code('bug', 'a trap channel was built from a buffer that is not one', 'pass the SharedArrayBuffer of a TrapChannel'),
  EVSMMU_TRAP_SIZE: code('bug', 'an MMIO access size is not 1, 2, 4 or 8 bytes', 'use an access size of 1, 2, 4 or 8'),
  EVSMMU_RING_CONFIG: code('bug', 'a ring capacity is not a power of two in [2, 2^24]', 'pass a power-of-two capacity'),
  EVSMMU_RING_BATCH: code('bug', "a ring batch is larger than the ring's capacity", 'use batches of at most the capacity'),
  EVSMMU_IRQ_CONFIG: code('bug', 'an interrupt bank has a line count outside 1..32', 'use 1..32 lines'),
  EVSMMU_IRQ_LINE: code('bug', 'an interrupt line number is outside its bank', 'use a line of the bank'),
  EVSMMU_REGPAGE: code('bug', 'a buffer is not an SMMU register page', 'pass the SharedArrayBuffer of a register page'),
  EVSMMU_PORT_CONFIG: code('bug', 'a transaction port is bound to an invalid StreamID', 'bind ports to StreamIDs within the SMMU range'),
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** What crosses a thread boundary: the receiver rebuilds the same error with `fromRecord()`. */
export interface ErrorRecord {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export class VsmmuError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, details?: Readonly<Record<string, unknown>>) {
    super(message);
    this.name = 'VsmmuError';
    this.code = code;
    this.details = details;
  }

  /** input, run or bug: what kind of failure this is (the CLI's exit status follows it). */
  get kind(): ErrorKind {
    return ERROR_CODES[this.code].kind;
  }

  toRecord(): ErrorRecord {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }

  static fromRecord(r: ErrorRecord): VsmmuError {
    return new VsmmuError(isErrorCode(r.code) ? r.code : 'EVSMMU_INTERNAL', r.message, r.details);
  }

  /** Any thrown value as a record: coded errors keep their code, the rest become EVSMMU_INTERNAL. */
  static recordOf(e: unknown): ErrorRecord {
    if (e instanceof VsmmuError) return e.toRecord();
    if (e instanceof Error) return { code: 'EVSMMU_INTERNAL', message: e.message, details: { stack: e.stack ?? '' } };
    return { code: 'EVSMMU_INTERNAL', message: String(e) };
  }
}

export function isErrorCode(c: unknown): c is ErrorCode {
  return typeof c === 'string' && Object.hasOwn(ERROR_CODES, c);
}
