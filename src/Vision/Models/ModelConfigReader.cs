using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace VideoLong.Vision.Models;

/// <summary>
/// Reads an architecture config record from <c>config.json</c> and turns every JSON problem into a
/// <see cref="ModelConfigException"/> that names the key: a missing <c>required</c> member, or a value of the wrong type.
/// Unknown keys (<c>architectures</c>, <c>torch_dtype</c>, <c>transformers_version</c>, …) are ignored, as in transformers.
/// </summary>
internal static class ModelConfigReader
{
    public static T Read<T>(JsonElement element, string source, string keyPrefix = "")
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new ModelConfigException(source, keyPrefix.TrimEnd('.'), $"{source}: expected a JSON object{(keyPrefix.Length > 0 ? $" at {keyPrefix.TrimEnd('.')}" : "")}.");
        }

        foreach (PropertyInfo property in typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            string? key = property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name;
            if (key is null || !property.IsDefined(typeof(RequiredMemberAttribute)))
            {
                continue;
            }

            if (!element.TryGetProperty(key, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
            {
                throw new ModelConfigException(source, keyPrefix + key, $"{source}: required key '{keyPrefix}{key}' is missing.");
            }
        }

        try
        {
            return element.Deserialize<T>() ?? throw new ModelConfigException(source, keyPrefix.TrimEnd('.'), $"{source}: the config is null.");
        }
        catch (JsonException e)
        {
            string key = keyPrefix + (e.Path ?? "$").TrimStart('$', '.');
            throw new ModelConfigException(source, key, $"{source}: '{key}' has a value of the wrong type ({e.Message})", e);
        }
    }

    /// <summary>
    /// The tower section of a config: its <c>vision_config</c> object with the key prefix "vision_config." when the
    /// document is a whole model config, else the document itself with no prefix (a bare tower config).
    /// </summary>
    public static (JsonElement Section, string Prefix) VisionSection(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty("vision_config", out JsonElement nested) ? (nested, "vision_config.") : (root, "");

    public static JsonDocument Parse(string json, string source)
    {
        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ModelConfigException(source, "", $"{source} is not valid JSON: {e.Message}", e);
        }
    }
}
