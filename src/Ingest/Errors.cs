namespace VideoLong;

/// <summary>
/// Root of VideoLong's exception hierarchy. Every error caused by input from outside (a file, a request, a config
/// value) is one of these, with a message that says what was wrong and what is accepted. The CLI prints the message
/// as one line; the HTTP API maps it to ProblemDetails.
/// </summary>
public class VideoLongException : Exception
{
    public VideoLongException(string message) : base(message) { }

    public VideoLongException(string message, Exception? innerException) : base(message, innerException) { }
}
