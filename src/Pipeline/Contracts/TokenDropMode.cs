namespace VideoLong.Contracts;

/// <summary>HiCo video-level dropping of visual tokens inside the LLM (the CLI's <c>--drop-mode</c>).</summary>
public enum TokenDropMode
{
    /// <summary><c>uniform</c>: keep evenly spaced visual tokens.</summary>
    Uniform,

    /// <summary><c>attention</c>: keep the visual tokens the last text token attends to most.</summary>
    Attention,

    /// <summary><c>uniform0_attention</c>: uniform at the first drop layer, attention after it (the default).</summary>
    Uniform0Attention,
}
