using System.Text.Json;
using System.Text.Json.Serialization;

namespace VideoLong.Pipeline.Http;

/// <summary>The API's JSON: web defaults (camelCase) with enums as their names.</summary>
internal static class ApiJson
{
    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.Converters.Add(new JsonStringEnumConverter());
        return options;
    }
}
