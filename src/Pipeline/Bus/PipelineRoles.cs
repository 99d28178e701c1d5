using System.Reflection;
using MassTransit;

namespace VideoLong.Pipeline.Bus;

/// <summary>
/// Which consumers a process hosts (<c>videolong worker --role</c>). On the in-memory transport one process hosts all of
/// them. On RabbitMQ: <c>prepare</c> (decoding, CPU), <c>encode</c> (vision tower, GPU), <c>answer</c> (language model,
/// GPU) and <c>orchestrate</c> (the job orchestrators such as <see cref="AnswerQuestionConsumer"/>: they only send
/// stage requests and wait, so any machine may run them); <c>all</c> is every role. <c>videolong serve</c> on RabbitMQ
/// hosts none: only the HTTP API and a per-instance temporary endpoint for job events.
/// </summary>
[Flags]
public enum PipelineRoles
{
    None = 0,
    Prepare = 1,
    Encode = 2,
    Answer = 4,
    Orchestrate = 8,
    All = Prepare | Encode | Answer | Orchestrate,
}

/// <summary>Marks the role whose processes host a consumer. A consumer without it is hosted only by <see cref="PipelineRoles.All"/>.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class PipelineRoleAttribute(PipelineRoles role) : Attribute
{
    public PipelineRoles Role { get; } = role;
}

public static class PipelineRoleSet
{
    public const string Accepted = "prepare, encode, answer, orchestrate or all, or several separated by commas (e.g. prepare,orchestrate)";

    /// <summary>Reads <c>prepare|encode|answer|orchestrate|all</c>, or several separated by commas.</summary>
    /// <exception cref="VideoLongException">An unknown or empty role.</exception>
    public static PipelineRoles Parse(string? value)
    {
        PipelineRoles roles = PipelineRoles.None;
        foreach (string part in (value ?? "").Split(',', StringSplitOptions.TrimEntries))
        {
            roles |= part.ToLowerInvariant() switch
            {
                "prepare" => PipelineRoles.Prepare,
                "encode" => PipelineRoles.Encode,
                "answer" => PipelineRoles.Answer,
                "orchestrate" => PipelineRoles.Orchestrate,
                "all" => PipelineRoles.All,
                _ => throw new VideoLongException($"Invalid role '{part}': {Accepted}."),
            };
        }

        return roles;
    }

    public static string Format(PipelineRoles roles) => roles == PipelineRoles.All
        ? "all"
        : roles == PipelineRoles.None ? "none" : string.Join(',', Enum.GetValues<PipelineRoles>()
            .Where(r => r is not (PipelineRoles.None or PipelineRoles.All) && roles.HasFlag(r)).Select(r => r.ToString().ToLowerInvariant()));

    /// <summary>Whether a process with <paramref name="roles"/> hosts <paramref name="consumerType"/>.</summary>
    public static bool Hosts(PipelineRoles roles, Type consumerType)
    {
        ArgumentNullException.ThrowIfNull(consumerType);
        return consumerType.GetCustomAttribute<PipelineRoleAttribute>() is { } attribute
            ? (roles & attribute.Role) != 0
            : roles == PipelineRoles.All;
    }

    /// <summary>The consumers of this assembly (besides the job-event observer and the per-process cancellation listener, hosted everywhere) that a process with <paramref name="roles"/> does not host.</summary>
    internal static Type[] NotHosted(PipelineRoles roles) => typeof(PipelineRoleSet).Assembly.GetTypes()
        .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IConsumer).IsAssignableFrom(t) && t != typeof(JobEventsConsumer) && t != typeof(JobCancellationConsumer) && !Hosts(roles, t))
        .ToArray();
}
