using Microsoft.Extensions.DependencyInjection;
using VideoLong.Pipeline.Bus;
using VideoLong.Pipeline.Tests.Cli;

namespace VideoLong.Pipeline.Tests.Bus;

public sealed class When_a_transport_is_given
{
    private static readonly Dictionary<string, string?> NoVariables = [];

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("in-memory")]
    [InlineData("memory")]
    public void In_memory_is_the_default(string? value) => Assert.False(PipelineTransport.Parse(value, NoVariables.GetValueOrDefault).IsRabbitMq);

    [Fact]
    public void A_rabbitmq_uri_gives_host_port_vhost_and_guest_by_default()
    {
        PipelineTransport t = PipelineTransport.Parse("rabbitmq://broker.local:5673/video%2Fprod", NoVariables.GetValueOrDefault);
        Assert.Equal(("broker.local", 5673, "video/prod", "guest", "guest"), (t.Host, t.Port, t.VirtualHost, t.User, t.Password));
        PipelineTransport plain = PipelineTransport.Parse("rabbitmq://127.0.0.1", NoVariables.GetValueOrDefault);
        Assert.Equal((5672, "/"), (plain.Port, plain.VirtualHost));
        Assert.Equal("rabbitmq://127.0.0.1:5672/", plain.ToString());
    }

    [Fact]
    public void Credentials_come_from_the_uri_before_the_environment()
    {
        Dictionary<string, string?> env = new() { [PipelineTransport.UserVariable] = "envuser", [PipelineTransport.PasswordVariable] = "envpass" };
        PipelineTransport fromEnv = PipelineTransport.Parse("rabbitmq://h", env.GetValueOrDefault);
        Assert.Equal(("envuser", "envpass"), (fromEnv.User, fromEnv.Password));
        PipelineTransport fromUri = PipelineTransport.Parse("rabbitmq://me:s%40cret@h", env.GetValueOrDefault);
        Assert.Equal(("me", "s@cret"), (fromUri.User, fromUri.Password));
        Assert.DoesNotContain("cret", fromUri.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("amqp://127.0.0.1", "accepted: 'in-memory', or rabbitmq://HOST")]
    [InlineData("rabbitmq://", "accepted")]
    [InlineData("rabbitmq://h/a/b", "one path segment")]
    [InlineData("rabbitmq://h?x=1", "no query")]
    [InlineData("kafka", "accepted")]
    public void Anything_else_is_refused_saying_what_is_accepted(string value, string message)
    {
        VideoLongException e = Assert.Throws<VideoLongException>(() => PipelineTransport.Parse(value, NoVariables.GetValueOrDefault));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_password_in_a_refused_uri_is_not_echoed()
    {
        VideoLongException e = Assert.Throws<VideoLongException>(() => PipelineTransport.Parse("rabbitmq://me:topsecret@h/a/b", NoVariables.GetValueOrDefault));
        Assert.DoesNotContain("topsecret", e.Message, StringComparison.Ordinal);
    }
}

public sealed class When_roles_are_chosen
{
    [Theory]
    [InlineData("all", PipelineRoles.All)]
    [InlineData("prepare", PipelineRoles.Prepare)]
    [InlineData("encode,answer", PipelineRoles.Encode | PipelineRoles.Answer)]
    [InlineData("Prepare, Orchestrate", PipelineRoles.Prepare | PipelineRoles.Orchestrate)]
    public void Roles_parse_alone_or_combined(string value, PipelineRoles expected) => Assert.Equal(expected, PipelineRoleSet.Parse(value));

    [Theory]
    [InlineData("decode")]
    [InlineData("")]
    [InlineData("prepare,")]
    public void An_unknown_role_is_refused_naming_the_accepted_ones(string value)
    {
        VideoLongException e = Assert.Throws<VideoLongException>(() => PipelineRoleSet.Parse(value));
        Assert.Contains("prepare, encode, answer, orchestrate or all", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Each_role_hosts_its_own_consumers_and_serve_on_rabbitmq_hosts_none()
    {
        Assert.True(PipelineRoleSet.Hosts(PipelineRoles.Prepare, typeof(PrepareVideoConsumer)));
        Assert.False(PipelineRoleSet.Hosts(PipelineRoles.Prepare, typeof(EncodeVideoConsumer)));
        Assert.True(PipelineRoleSet.Hosts(PipelineRoles.Encode | PipelineRoles.Answer, typeof(GenerateAnswerConsumer)));
        Assert.True(PipelineRoleSet.Hosts(PipelineRoles.Orchestrate, typeof(AnswerQuestionConsumer)));
        Assert.Contains(typeof(AnswerQuestionConsumer), PipelineRoleSet.NotHosted(PipelineRoles.Prepare));
        Assert.Empty(PipelineRoleSet.NotHosted(PipelineRoles.All));
        Assert.Contains(typeof(PrepareVideoConsumer), PipelineRoleSet.NotHosted(PipelineRoles.None));
        Assert.DoesNotContain(typeof(JobEventsConsumer), PipelineRoleSet.NotHosted(PipelineRoles.None));
    }

    [Fact]
    public void Split_roles_on_the_in_memory_transport_are_refused()
    {
        var options = new PipelineOptions { DataDirectory = Path.GetTempPath(), Roles = PipelineRoles.Prepare };
        VideoLongException e = Assert.Throws<VideoLongException>(() => new ServiceCollection().AddVideoLongPipeline(options));
        Assert.Contains("in-memory transport", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("UPPER")]
    [InlineData("has space")]
    public void A_bad_queue_prefix_is_refused(string prefix)
    {
        var options = new PipelineOptions { DataDirectory = Path.GetTempPath(), EndpointPrefix = prefix };
        Assert.Throws<VideoLongException>(options.Validate);
    }
}

[Collection(nameof(CliCollection))]
public sealed class When_the_worker_verb_gets_bad_input
{
    [Theory]
    [InlineData("--role", "all", "--transport", "in-memory", "a worker needs a broker")]
    [InlineData("--role", "gpu", "--transport", "rabbitmq://127.0.0.1", "Invalid role 'gpu'")]
    [InlineData("--role", "all", "--transport", "amqp://x", "Invalid transport")]
    [InlineData("--role", "all", "--transport", "rabbitmq://127.0.0.1", "Invalid --device 'tpu'")]
    public async Task It_is_one_line_on_stderr_and_exit_2(string a, string b, string c, string d, string message)
    {
        string[] args = message.Contains("device", StringComparison.Ordinal) ? ["worker", a, b, c, d, "--device", "tpu"] : ["worker", a, b, c, d];
        (int Exit, string Out, string Err) run = await CliRunner.RunAsync(args);
        Assert.Equal(2, run.Exit);
        CliRunner.AssertOneLineError(run, message);
    }
}
