using System.Runtime.CompilerServices;

// The Qwen2 layer tests (RMSNorm, rotary embeddings) reach the internal blocks of Qwen2ForCausalLM.cs.
[assembly: InternalsVisibleTo("VideoLong.Language.Tests")]
