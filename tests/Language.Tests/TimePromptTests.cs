namespace VideoLong.Language.Tests;

public sealed class When_a_time_prompt_is_built
{
    [Fact]
    public void It_matches_VideoChat_Flash_short_time_message()
    {
        Assert.Equal("The video lasts for 79.50 seconds, and 76 frames are uniformly sampled from it.", TimePrompt.Describe(79.5, 76));
        Assert.Equal("The video lasts for 1800.00 seconds, and 512 frames are uniformly sampled from it.\nWhat launches?",
            TimePrompt.WithQuestion(1800, 512, "  What launches? "));
    }

    [Fact]
    public void Invalid_values_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TimePrompt.Describe(double.NaN, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => TimePrompt.Describe(10, 0));
        Assert.Throws<ArgumentException>(() => TimePrompt.WithQuestion(10, 4, " "));
    }
}
