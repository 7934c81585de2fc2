namespace Workers.Agents.Runtimes.Native;

/// <summary>Reads an agent's API key from where its definition says: literal text, an environment variable, or a file.</summary>
internal static class ApiKeys
{
    /// <summary>The key, or null with <paramref name="problem"/> naming the setting or variable to fix (never the key itself).</summary>
    public static string? Resolve(ApiKeySource source, string? baseDirectory, out string problem)
    {
        problem = "";
        if (source.Literal is { } literal)
        {
            return literal;
        }

        if (source.Variable is { } variable)
        {
            var value = Environment.GetEnvironmentVariable(variable);
            if (string.IsNullOrWhiteSpace(value))
            {
                problem = $"the environment variable '{variable}' is not set on this worker (set it, or name another with '{NativeSettings.ApiKeyEnvField}')";
                return null;
            }

            return value.Trim();
        }

        var file = source.File!;
        var path = Path.IsPathRooted(file) || baseDirectory is null ? file : Path.Combine(baseDirectory, file);
        try
        {
            var key = File.ReadAllText(path).Trim();
            if (key.Length > 0)
            {
                return key;
            }

            problem = $"the key file '{path}' ({NativeSettings.ApiKeyFileField}) is empty";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            problem = $"the key file '{path}' ({NativeSettings.ApiKeyFileField}) cannot be read: {ex.Message}";
        }

        return null;
    }
}
