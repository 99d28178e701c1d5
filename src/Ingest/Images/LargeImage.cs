using NetVips;

namespace VideoLong.Ingest.Images;

/// <summary>
/// A large image (up to gigapixels) opened lazily with libvips: opening reads the header only, and each
/// <see cref="ReadRegion(PixelBox)"/> decodes just what the region needs. For a tiled TIFF/BigTIFF that is the tiles
/// under the region (random access); JPEG, PNG, WebP and TIFFs in strips cannot be read randomly, so libvips decodes
/// them whole on the first read and keeps the result (in memory, or in a temporary file above 100 MB) until disposal.
/// </summary>
/// <remarks>
/// <para>Regions come back as RGB24 (<see cref="ImageRegion"/>), whatever the file holds:</para>
/// <list type="bullet">
/// <item>alpha is flattened onto black (premultiplied by alpha, then dropped);</item>
/// <item>grey is copied into R, G and B; CMYK, CIELAB and other colour spaces go through libvips' conversion to sRGB;
/// images with more than three bands keep their first three;</item>
/// <item>16-bit samples are scaled, then cast: <c>v8 = ⌊v16 · 255 / 65535 + 0.5⌋</c> (rounded to nearest; 0 → 0,
/// 32768 → 128, 65535 → 255). This maps the full 16-bit range onto the full 8-bit range evenly, unlike a plain
/// <c>v16 &gt;&gt; 8</c>, which libvips' own sRGB conversion uses and which rounds down;</item>
/// <item>other sample formats (signed, 32-bit, floating point outside an scRGB interpretation) are cast with
/// saturation: clamped to [0, 255] and truncated, without scaling, as GDAL does when translating to Byte without
/// <c>-scale</c>.</item>
/// </list>
/// <para>EXIF/TIFF orientation is not applied: regions address the pixels as stored (see <see cref="Orientation"/>).
/// Regions may be read from several threads at once; <see cref="Dispose"/> must not race with reads.</para>
/// </remarks>
public sealed class LargeImage : IDisposable
{
    /// <summary>
    /// Largest tile (width × height) for which a tiled TIFF counts as readable region by region. Each tile is decoded
    /// whole, so a file with larger tiles is held to <see cref="LargeImageOptions.UntiledPixelLimit"/> instead.
    /// </summary>
    public const long MaxTilePixels = 4096L * 4096;

    private readonly Image _image;
    private readonly long _maxRegionPixels;
    private int _disposed;

    private LargeImage(string path, Image image, ImageContainer container, Enums.ForeignFlags flags, TiffStructure? tiff, GeoReference? geo, LargeImageOptions options)
    {
        _image = image;
        _maxRegionPixels = options.MaxRegionPixels;
        Path = path;
        Container = container;
        Width = image.Width;
        Height = image.Height;
        Bands = image.Bands;
        SampleFormat = image.Format.ToString().ToLowerInvariant();
        HasAlpha = image.HasAlpha();
        Format = image.GetTypeOf("vips-loader") != 0 ? (string)image.Get("vips-loader") : container.ToString().ToLowerInvariant() + "load";
        SupportsRandomAccess = flags.HasFlag(Enums.ForeignFlags.PARTIAL);
        PageCount = image.GetTypeOf("n-pages") != 0 ? Math.Max(1, (int)image.Get("n-pages")) : 1;
        Orientation = image.GetTypeOf("orientation") != 0 ? (int)image.Get("orientation") : 1;
        TileWidth = tiff?.TileWidth;
        TileHeight = tiff?.TileHeight;
        Levels = tiff?.Levels ?? [new ImageLevel(Width, Height)];
        Geo = geo;
    }

    /// <summary>Full path of the file.</summary>
    public string Path { get; }

    /// <summary>The file format, recognised from the file's first bytes.</summary>
    public ImageContainer Container { get; }

    /// <summary>The libvips loader that reads the file: "jpegload", "pngload", "webpload" or "tiffload".</summary>
    public string Format { get; }

    public int Width { get; }

    public int Height { get; }

    /// <summary>Bands as stored (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA or CMYK, …), before conversion to RGB24.</summary>
    public int Bands { get; }

    /// <summary>Sample format as stored, libvips' name: "uchar", "ushort", "short", "float", ….</summary>
    public string SampleFormat { get; }

    public bool HasAlpha { get; }

    /// <summary>EXIF/TIFF orientation tag (1 = as stored; 1–8), not applied to the pixels.</summary>
    public int Orientation { get; }

    /// <summary>Whether the file is a tiled TIFF (its first, full-resolution image).</summary>
    public bool IsTiled => TileWidth is not null;

    /// <summary>Tile width of a tiled TIFF; null otherwise.</summary>
    public int? TileWidth { get; }

    /// <summary>Tile height of a tiled TIFF; null otherwise.</summary>
    public int? TileHeight { get; }

    /// <summary>Whether libvips reads regions without decoding the whole image (tiled TIFF).</summary>
    public bool SupportsRandomAccess { get; }

    /// <summary>Number of pages (IFDs in the main chain) of a TIFF; 1 for other formats.</summary>
    public int PageCount { get; }

    /// <summary>
    /// Resolution levels: [0] is the full image; a pyramidal TIFF adds each smaller level, whether stored as further
    /// pages (libvips <c>tiffsave pyramid</c>) or as SubIFDs (<c>pyramid, subifd</c>, as in OME-TIFF/COG-style files).
    /// </summary>
    public IReadOnlyList<ImageLevel> Levels { get; }

    /// <summary>Number of resolution levels, 1 when the file has no pyramid.</summary>
    public int LevelCount => Levels.Count;

    /// <summary>GeoTIFF georeferencing, or null for other files (and when <see cref="LargeImageOptions.ReadGeoReference"/> is off).</summary>
    public GeoReference? Geo { get; }

    /// <summary>The whole image as a box: 0, 0, Width, Height.</summary>
    public PixelBox Bounds => new(0, 0, Width, Height);

    /// <summary>
    /// Opens <paramref name="path"/> without decoding pixels: recognises the format from its content, reads the header
    /// (and, for TIFF, its directories and GeoTIFF tags), and checks the pixel limits.
    /// </summary>
    /// <exception cref="MediaNotFoundException">The path is missing, a directory, or not a regular file.</exception>
    /// <exception cref="InvalidMediaException">The file is empty.</exception>
    /// <exception cref="ImageDecodeException">Not an accepted image format, or its header is corrupt.</exception>
    /// <exception cref="ImageTooLargeException">The header claims more pixels than the applicable limit.</exception>
    public static LargeImage Open(string path, LargeImageOptions? options = null)
    {
        options ??= LargeImageOptions.Default;
        options.Validate();
        string full = MediaFile.RequireReadableFile(path);
        VipsRuntime.EnsureConfigured();
        ImageContainer container = ImageContainerSniffer.Sniff(full);

        // For TIFF our own bounded parser reads the header first, so libtiff never opens an oversized file.
        TiffStructure? tiff = null;
        bool tiledReadable = false;
        if (container is ImageContainer.Tiff or ImageContainer.BigTiff)
        {
            tiff = TiffStructureReader.Read(full);
            tiledReadable = tiff is { TileWidth: { } tw, TileHeight: { } th } && (long)tw * th <= MaxTilePixels;
            CheckPixelLimit(full, container, tiff.Width, tiff.Height, tiledReadable, options);
        }

        Image image = Load(full, container, options, out Enums.ForeignFlags flags);
        try
        {
            // Check again with what libvips will actually decode (for JPEG/PNG/WebP this is the first check).
            bool regionReadable = tiledReadable && flags.HasFlag(Enums.ForeignFlags.PARTIAL);
            CheckPixelLimit(full, container, image.Width, image.Height, regionReadable, options);
            GeoReference? geo = options.ReadGeoReference && tiff is not null ? GeoTiffReferencing.Build(tiff.GeoTags, full) : null;
            return new LargeImage(full, image, container, flags, tiff, geo, options);
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }

    /// <summary>Reads <paramref name="box"/>, which must lie inside the image, as RGB24.</summary>
    /// <exception cref="ArgumentException"><paramref name="box"/> has no size (<c>default(PixelBox)</c>) or exceeds <see cref="LargeImageOptions.MaxRegionPixels"/>.</exception>
    /// <exception cref="RegionOutOfBoundsException"><paramref name="box"/> is not inside the image; the message gives the valid range.</exception>
    /// <exception cref="ImageDecodeException">The pixel data under the box is corrupt or truncated.</exception>
    public ImageRegion ReadRegion(PixelBox box)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        RequireSize(box, nameof(box));
        if (!Bounds.Contains(box))
        {
            throw new RegionOutOfBoundsException(
                $"Region {box} (x,y,w,h) does not fit the {Width}×{Height} image '{Path}': x must be in [0, {Width - 1}], " +
                $"y in [0, {Height - 1}], x + w ≤ {Width} and y + h ≤ {Height}.");
        }

        return ReadCore(box, box);
    }

    /// <summary>
    /// Reads the box of a <see cref="RegionGrid"/> cell. Pixels outside the cell's <see cref="GridCell.Valid"/> part
    /// (where a <see cref="GridEdgePolicy.Pad"/> cell extends past the gridded area) are zero; the returned region
    /// records its valid part.
    /// </summary>
    /// <exception cref="RegionOutOfBoundsException">The cell does not fit this image (the grid was made for another size).</exception>
    /// <exception cref="ImageDecodeException">The pixel data under the cell is corrupt or truncated.</exception>
    public ImageRegion ReadRegion(GridCell cell)
    {
        ArgumentNullException.ThrowIfNull(cell);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        RequireSize(cell.Box, nameof(cell));
        if (!Bounds.Contains(cell.Valid))
        {
            throw new RegionOutOfBoundsException(
                $"Grid cell {cell.Index} (row {cell.Row}, column {cell.Column}, pixels {cell.Valid}) does not fit the " +
                $"{Width}×{Height} image '{Path}'; was the grid made for another image size?");
        }

        return ReadCore(cell.Box, cell.Valid);
    }

    /// <summary>Reads <paramref name="box"/> (see <see cref="ReadRegion(PixelBox)"/>) and writes it as an RGB PNG.</summary>
    public ImageRegion SaveRegionPng(PixelBox box, string path)
    {
        ImageRegion region = ReadRegion(box);
        region.SavePng(path);
        return region;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _image.Dispose();
        }
    }

    private void RequireSize(PixelBox box, string parameter)
    {
        if (box.IsEmpty)
        {
            throw new ArgumentException("A region needs a positive width and height.", parameter);
        }

        if (box.Area > _maxRegionPixels)
        {
            throw new ArgumentException(
                $"Region {box} is {box.Area:N0} px, over the limit of {_maxRegionPixels:N0} px per read " +
                "(LargeImageOptions.MaxRegionPixels); read it as several smaller regions.", parameter);
        }
    }

    private ImageRegion ReadCore(PixelBox box, PixelBox valid)
    {
        byte[] pixels;
        try
        {
            using Image crop = _image.Crop(valid.X, valid.Y, valid.Width, valid.Height);
            pixels = ToRgb24(crop);
        }
        catch (VipsException e)
        {
            throw new ImageDecodeException(
                Path, $"Reading region {valid} (x,y,w,h) of '{Path}' failed: {VipsRuntime.Describe(e)}. The file is damaged or truncated.", e);
        }

        if (valid == box)
        {
            return new ImageRegion(box, valid, pixels);
        }

        // Place the valid part into a zero-filled box.
        var padded = new byte[box.Area * ImageRegion.Channels];
        int rowBytes = valid.Width * ImageRegion.Channels;
        for (int row = 0; row < valid.Height; row++)
        {
            int target = (((valid.Y - box.Y + row) * box.Width) + (valid.X - box.X)) * ImageRegion.Channels;
            Buffer.BlockCopy(pixels, row * rowBytes, padded, target, rowBytes);
        }

        return new ImageRegion(box, valid, padded);
    }

    /// <summary>Converts a lazily cropped image to RGB24 and computes it (see the class remarks for the rules).</summary>
    private static byte[] ToRgb24(Image crop)
    {
        var owned = new Stack<Image>();
        Image Own(Image image)
        {
            owned.Push(image);
            return image;
        }

        try
        {
            Image image = crop;
            if (image.Coding == Enums.Coding.Labq)
            {
                image = Own(image.LabQ2sRGB());
            }
            else if (image.Coding == Enums.Coding.Rad)
            {
                image = Own(image.Rad2float());
            }

            if (image.HasAlpha())
            {
                double? maxAlpha = image.Format switch
                {
                    Enums.BandFormat.Uchar => 255,
                    Enums.BandFormat.Ushort => 65535,
                    _ => null, // libvips picks from the interpretation (1.0 for scRGB)
                };
                image = Own(image.Flatten(background: [0], maxAlpha: maxAlpha));
            }

            if (NeedsColourConversion(image.Interpretation))
            {
                image = Own(image.Colourspace(Enums.Interpretation.Srgb));
            }

            if (image.Format == Enums.BandFormat.Ushort)
            {
                image = Own(image.Linear([1.0 / 257.0], [0.5]));   // v · 255/65535 + 0.5, as float
                image = Own(image.Cast(Enums.BandFormat.Uchar));   // truncation = round to nearest
            }
            else if (image.Format != Enums.BandFormat.Uchar)
            {
                image = Own(image.Cast(Enums.BandFormat.Uchar));   // saturating: clamp to [0, 255]
            }

            if (image.Bands == 2)
            {
                image = Own(image.ExtractBand(0)); // two bands without alpha: keep the first as grey
            }

            image = image.Bands switch
            {
                1 => Own(image.Bandjoin(image, image)),
                3 => image,
                _ => Own(image.ExtractBand(0, n: 3)),
            };

            return image.WriteToMemory<byte>();
        }
        finally
        {
            while (owned.Count > 0)
            {
                owned.Pop().Dispose();
            }
        }
    }

    private static bool NeedsColourConversion(Enums.Interpretation interpretation) => interpretation is
        Enums.Interpretation.Cmyk or Enums.Interpretation.Lab or Enums.Interpretation.Labs or Enums.Interpretation.Lch or
        Enums.Interpretation.Cmc or Enums.Interpretation.Xyz or Enums.Interpretation.Yxy or Enums.Interpretation.Scrgb or
        Enums.Interpretation.Hsv or Enums.Interpretation.Oklab or Enums.Interpretation.Oklch;

    private static Image Load(string path, ImageContainer container, LargeImageOptions options, out Enums.ForeignFlags flags)
    {
        // libvips 8.18 reports an undecodable TIFF tile as a *warning* and substitutes black, so only FailOn.Warning
        // turns corrupt pixel data into an error (LargeImageOptions.FailOnWarning). Random access: regions come in
        // any order. revalidate: never reuse a cached loader, in case the file changed on disk since.
        Enums.FailOn failOn = options.FailOnWarning ? Enums.FailOn.Warning : Enums.FailOn.Error;
        try
        {
            return container switch
            {
                ImageContainer.Jpeg => Image.Jpegload(path, out flags, access: Enums.Access.Random, failOn: failOn, revalidate: true),
                ImageContainer.Png => Image.Pngload(path, out flags, access: Enums.Access.Random, failOn: failOn, revalidate: true),
                ImageContainer.WebP => Image.Webpload(path, out flags, access: Enums.Access.Random, failOn: failOn, revalidate: true),
                _ => Image.Tiffload(path, out flags, page: 0, access: Enums.Access.Random, failOn: failOn, revalidate: true),
            };
        }
        catch (VipsException e)
        {
            throw new ImageDecodeException(
                path,
                $"'{path}' looks like a {FormatName(container)} file but could not be opened: {VipsRuntime.Describe(e)}. " +
                $"Accepted formats: {ImageContainerSniffer.AcceptedFormats}.",
                e);
        }
    }

    private static void CheckPixelLimit(string path, ImageContainer container, long width, long height, bool regionReadable, LargeImageOptions options)
    {
        long limit = regionReadable ? options.PixelLimit : options.UntiledPixelLimit;
        Int128 pixels = (Int128)width * height;
        if (pixels <= limit)
        {
            return;
        }

        string kind = regionReadable
            ? "tiled TIFFs, which are read region by region"
            : $"{UntiledKind(container)}, which libvips must decode whole (or strip by strip) before any region can be read";
        string setting = regionReadable ? nameof(LargeImageOptions.PixelLimit) : nameof(LargeImageOptions.UntiledPixelLimit);
        string hint = regionReadable
            ? string.Empty
            : " Converting it to a tiled, pyramidal BigTIFF (e.g. `vips tiffsave IN OUT.tif --tile --pyramid --bigtiff`) puts it under the larger tiled limit.";
        throw new ImageTooLargeException(
            path, width, height, limit,
            $"'{path}' is {width:N0} × {height:N0} px ({pixels:N0} px), over the limit of {limit:N0} px for {kind}. " +
            $"If you trust this file, raise LargeImageOptions.{setting}.{hint}");
    }

    private static string FormatName(ImageContainer container) => container switch
    {
        ImageContainer.Jpeg => "JPEG",
        ImageContainer.Png => "PNG",
        ImageContainer.WebP => "WebP",
        ImageContainer.BigTiff => "BigTIFF",
        _ => "TIFF",
    };

    private static string UntiledKind(ImageContainer container) => container is ImageContainer.Tiff or ImageContainer.BigTiff
        ? $"{FormatName(container)} images in strips (or with tiles over {MaxTilePixels:N0} px)"
        : $"{FormatName(container)} images";
}
