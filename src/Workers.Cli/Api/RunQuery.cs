namespace Workers.Cli.Api;

/// <summary>Filters and paging for <c>GET /api/runs</c>; null members are left out of the query string.</summary>
internal sealed record RunQuery
{
    public string? State { get; init; }
    public string? Runtime { get; init; }
    public string? Agent { get; init; }
    public string? Tenant { get; init; }
    public int? Limit { get; init; }
    public string? Cursor { get; init; }
}
