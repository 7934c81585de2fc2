using Workers.Contracts;

namespace Workers.Runs.Persistence;

/// <summary>
/// What renewing a heartbeat's leases found: the leases the worker must give up (<see cref="LostLease"/>), and the runs
/// handed over on offers it gave up that never reached it, as hand-backs for the saga (<see cref="RunReleased"/>).
/// </summary>
public sealed record LeaseRenewal(IReadOnlyList<LostLease> Lost, IReadOnlyList<RunReleased> NeverDelivered);
