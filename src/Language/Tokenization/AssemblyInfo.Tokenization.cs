using System.Runtime.CompilerServices;

// The tokenizer's building blocks (byte-level table, pre-tokenizer, NFC) are internal and unit-tested directly.
// (Declared here rather than in VideoLong.Language.csproj to keep this change inside Tokenization/.)
[assembly: InternalsVisibleTo("VideoLong.Language.Tests")]
