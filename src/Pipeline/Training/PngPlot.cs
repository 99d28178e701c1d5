using System.Buffers.Binary;
using System.IO.Compression;

namespace VideoLong.Pipeline.Training;

/// <summary>A line chart of one or more series written as an RGB PNG (no drawing library: pixels, zlib and CRC).</summary>
public static class PngPlot
{
    /// <summary>Each series is (points as (x, y), RGB colour); y is drawn on a log scale when <paramref name="logY"/>.</summary>
    public static void Write(string path, IReadOnlyList<(IReadOnlyList<(double X, double Y)> Points, byte[] Rgb)> series, bool logY, int width = 800, int height = 400)
    {
        byte[] px = new byte[width * height * 3];
        Array.Fill(px, (byte)255);
        const int Margin = 30;
        var all = series.SelectMany(s => s.Points).Where(p => double.IsFinite(p.Y) && (!logY || p.Y > 0)).ToList();
        if (all.Count > 1)
        {
            double Ty(double y) => logY ? Math.Log10(y) : y;
            double x0 = all.Min(p => p.X), x1 = all.Max(p => p.X), y0 = all.Min(p => Ty(p.Y)), y1 = all.Max(p => Ty(p.Y));
            if (x1 <= x0) x1 = x0 + 1;
            if (y1 <= y0) y1 = y0 + 1;
            (int, int) Map((double X, double Y) p) => (Margin + (int)((p.X - x0) / (x1 - x0) * (width - (2 * Margin))),
                height - Margin - (int)((Ty(p.Y) - y0) / (y1 - y0) * (height - (2 * Margin))));
            Line(px, width, height, (Margin, height - Margin), (width - Margin, height - Margin), [0, 0, 0]);
            Line(px, width, height, (Margin, Margin), (Margin, height - Margin), [0, 0, 0]);
            foreach ((IReadOnlyList<(double X, double Y)> points, byte[] rgb) in series)
            {
                var valid = points.Where(p => double.IsFinite(p.Y) && (!logY || p.Y > 0)).ToList();
                for (int i = 1; i < valid.Count; i++)
                {
                    Line(px, width, height, Map(valid[i - 1]), Map(valid[i]), rgb);
                }
            }
        }

        using var file = File.Create(path);
        file.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        byte[] ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;   // bit depth
        ihdr[9] = 2;   // RGB
        Chunk(file, "IHDR", ihdr);
        using var raw = new MemoryStream();
        using (var z = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
        {
            for (int y = 0; y < height; y++)
            {
                z.WriteByte(0);
                z.Write(px, y * width * 3, width * 3);
            }
        }

        Chunk(file, "IDAT", raw.ToArray());
        Chunk(file, "IEND", []);
    }

    private static void Line(byte[] px, int w, int h, (int X, int Y) a, (int X, int Y) b, byte[] rgb)
    {
        int dx = Math.Abs(b.X - a.X), dy = -Math.Abs(b.Y - a.Y), sx = a.X < b.X ? 1 : -1, sy = a.Y < b.Y ? 1 : -1, err = dx + dy;
        int x = a.X, y = a.Y;
        while (true)
        {
            if (x >= 0 && y >= 0 && x < w && y < h)
            {
                int o = ((y * w) + x) * 3;
                px[o] = rgb[0];
                px[o + 1] = rgb[1];
                px[o + 2] = rgb[2];
            }

            if (x == b.X && y == b.Y)
            {
                break;
            }

            int e2 = 2 * err;
            if (e2 >= dy)
            {
                err += dy;
                x += sx;
            }

            if (e2 <= dx)
            {
                err += dx;
                y += sy;
            }
        }
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        byte[] len = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        s.Write(len);
        byte[] typeBytes = System.Text.Encoding.ASCII.GetBytes(type);
        s.Write(typeBytes);
        s.Write(data);
        uint crc = Crc(Crc(0xFFFFFFFFu, typeBytes), data) ^ 0xFFFFFFFFu;
        byte[] c = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(c, crc);
        s.Write(c);
    }

    private static uint Crc(uint crc, byte[] data)
    {
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
            }
        }

        return crc;
    }
}
