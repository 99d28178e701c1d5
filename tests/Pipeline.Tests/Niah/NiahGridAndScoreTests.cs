using VideoLong.Pipeline.Niah;

namespace VideoLong.Pipeline.Tests.Niah;

public sealed class When_needles_are_placed
{
    [Theory]
    [InlineData(0.0, 1000, 0)]
    [InlineData(1.0, 1000, 1000)]
    [InlineData(0.2, 3000, 600)]
    [InlineData(0.6, 1000, 600)]     // 0.6·1000 = 599.999… in binary; still 600
    [InlineData(0.7, 10, 7)]
    [InlineData(0.5, 7, 3)]          // ⌊3.5⌋
    [InlineData(0.999, 200, 199)]
    [InlineData(1.0, 0, 0)]
    public void The_needle_goes_before_frame_floor_d_times_F(double depth, int frames, int expected) =>
        Assert.Equal(expected, NiahGridMath.InsertionIndex(depth, frames));

    [Fact]
    public void The_layout_keeps_every_haystack_frame_and_adds_the_needle()
    {
        Assert.Equal([-1, 0, 1, 2, 3], NiahGridMath.Layout(4, 0));
        Assert.Equal([0, 1, -1, 2, 3], NiahGridMath.Layout(4, 0.5));
        Assert.Equal([0, 1, 2, 3, -1], NiahGridMath.Layout(4, 1));
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.01)]
    [InlineData(double.NaN)]
    public void A_depth_outside_0_1_is_refused(double depth) =>
        Assert.Contains("must be in [0, 1]", Assert.Throws<VideoLongException>(() => NiahGridMath.InsertionIndex(depth, 10)).Message, StringComparison.Ordinal);

    [Fact]
    public void The_published_grids_have_their_sizes()
    {
        IReadOnlyList<int> longva = NiahGridMath.Range(200, 3000, 200);
        Assert.Equal(15, longva.Count);
        Assert.Equal(200, longva[0]);
        Assert.Equal(3000, longva[^1]);
        Assert.Equal(10, NiahGridMath.Range(1000, 10000, 1000).Count);
        Assert.Equal([0, 0.2, 0.4, 0.6, 0.8, 1.0], NiahGridMath.EvenDepths(6));
    }

    [Fact]
    public void Multihop_needles_sit_at_equal_spacing_with_the_last_at_the_end()
    {
        // n = 3, F = 10: needle 0 first, then frames [0, 5) + needle 1, then [5, 10) + needle 2.
        Assert.Equal([(0, 0), (0, 5), (5, 10)], NiahGridMath.MultihopSlices(10, 3));
        (int Start, int End)[] seven = NiahGridMath.MultihopSlices(1000, 7);
        Assert.Equal(1000, seven[^1].End);
        Assert.Equal(166, seven[1].End);   // ⌊1000/6⌋
        Assert.Equal([(0, 0)], NiahGridMath.MultihopSlices(10, 1));
    }
}

public sealed class When_answers_are_scored
{
    [Theory]
    [InlineData("The Yellow balloon!", "yellow balloon")]
    [InlineData("  An apple, a PEAR; the end.  ", "apple pear end")]
    [InlineData("200.", "200")]
    [InlineData("Mr. Smith", "mr smith")]
    public void Text_is_lower_cased_without_punctuation_or_articles(string text, string expected) => Assert.Equal(expected, NiahScore.Normalize(text));

    [Theory]
    [InlineData("Yellow.", true)]
    [InlineData("the yellow", true)]
    [InlineData("yellowish", false)]
    [InlineData("It is yellow", false)]
    public void A_short_answer_matches_after_normalisation(string generated, bool correct) =>
        Assert.Equal(correct, NiahScore.IsCorrect(new NiahNeedle { Text = "x", Question = "Colour?", Answer = "Yellow" }, generated));

    [Theory]
    [InlineData("B", true)]
    [InlineData("(B", true)]
    [InlineData("(B) 200", true)]
    [InlineData("B. 200", true)]
    [InlineData("b", true)]
    [InlineData("Best option: (B)", true)]
    [InlineData("The answer is B", true)]
    [InlineData("Option B", true)]
    [InlineData("200", true)]            // the option's text
    [InlineData("A", false)]
    [InlineData("(E)", false)]           // not an option
    [InlineData("Because", false)]
    public void Multiple_choice_letters_are_recognised(string generated, bool correct)
    {
        var needle = new NiahNeedle { Text = "x", Question = "How many?", Options = ["100", "200", "300", "400"], Answer = "B" };
        Assert.Equal(correct, NiahScore.IsCorrect(needle, generated));
    }

    [Fact]
    public void An_answer_given_as_the_option_text_stands_for_its_letter()
    {
        var needle = new NiahNeedle { Text = "x", Question = "Where?", Options = ["Times Square", "Central Park"], Answer = "central park" };
        Assert.Equal('B', NiahScore.AnswerLetter(needle));
        Assert.Equal("B", NiahScore.TeacherForcedAnswer(needle));
        Assert.EndsWith("(A) Times Square\n(B) Central Park\nOnly give the best option.", NiahScore.Prompt(needle), StringComparison.Ordinal);
    }

    [Fact]
    public void Teacher_forcing_is_correct_only_when_every_answer_token_matches()
    {
        Assert.True(new TeacherForcedResult([5, 6], [5, 6], "").AllCorrect);
        var half = new TeacherForcedResult([5, 6], [5, 7], "");
        Assert.False(half.AllCorrect);
        Assert.Equal(0.5, half.TokenAccuracy);
    }
}
