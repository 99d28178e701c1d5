namespace VideoLong.Bench;

internal static class RegionBench
{
    public static void Run(string file, int size, int reads) => Console.WriteLine("region benchmark: pending");
}
